//! The interface's words in French and English (terms from GLOSSARY.md, formal "vous").

use axum::http::{HeaderMap, header};

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("fr") => Some(Lang::Fr),
            Some("en") => Some(Lang::En),
            _ => None,
        }
    }

    /// The first supported language of an `Accept-Language` header, French by default.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(|part| Lang::parse(part.trim())))
            .unwrap_or(Lang::Fr)
    }
}

/// Every message: (key, French, English).
const MESSAGES: &[(&str, &str, &str)] = &[
    ("nav.imports", "Importer", "Import"),
    ("nav.activities", "Activités", "Activities"),
    ("activities.title", "Activités", "Activities"),
    ("activities.when", "Date", "When"),
    ("activities.kind", "Type", "Kind"),
    ("activities.subject", "Objet", "Subject"),
    ("activities.contact", "Contact", "Contact"),
    ("activities.done", "Fait", "Done"),
    ("activities.yes", "Oui", "Yes"),
    ("activities.no", "Non", "No"),
    ("activities.kind.call", "Appel", "Call"),
    ("activities.kind.meeting", "Rendez-vous", "Meeting"),
    ("activities.kind.task", "Tâche", "Task"),
    ("activities.kind.email", "E-mail", "E-mail"),
    (
        "activities.log_title",
        "Consigner une activité",
        "Log an activity",
    ),
    ("activities.log_button", "Consigner", "Log it"),
    ("activities.starts", "Début (UTC)", "Starts (UTC)"),
    (
        "activities.ends",
        "Fin (UTC, facultative)",
        "Ends (UTC, optional)",
    ),
    ("activities.location", "Lieu", "Location"),
    ("activities.description", "Description", "Description"),
    ("activities.mark_done", "Déjà faite", "Already done"),
    (
        "activities.fix_errors",
        "L’activité n’a pas été enregistrée : corrigez les champs signalés.",
        "The activity was not saved: correct the fields marked.",
    ),
    (
        "activities.logged",
        "Activité consignée.",
        "Activity logged.",
    ),
    (
        "activities.mark_done_button",
        "Marquer comme faite",
        "Mark done",
    ),
    (
        "activities.marked_done",
        "Activité marquée comme faite.",
        "Activity marked done.",
    ),
    (
        "activities.stale",
        "L’activité a changé entre-temps : rien n’a été modifié, voyez-la à nouveau.",
        "The activity changed meanwhile: nothing was changed; look at it again.",
    ),
    (
        "activities.empty",
        "Aucune activité pour l’instant. Importez un calendrier (.ics) ci-dessous, ou ajoutez-en par l’API.",
        "No activities yet. Import a calendar (.ics) below, or add them through the API.",
    ),
    (
        "activities.import_title",
        "Importer un calendrier",
        "Import a calendar",
    ),
    (
        "activities.import_hint",
        "Fichier iCalendar (.ics) de Google Agenda, Outlook ou Apple Calendrier, jusqu’à 16 Mo. Un événement déjà importé est mis à jour ; un participant dont l’adresse est celle d’un contact y est relié.",
        "An iCalendar file (.ics) from Google Calendar, Outlook or Apple Calendar, up to 16 MB. An event imported before is updated; an attendee whose address is a contact's is linked to it.",
    ),
    ("activities.file", "Fichier .ics", ".ics file"),
    (
        "activities.dry_run",
        "Simulation : ne rien enregistrer",
        "Dry run: write nothing",
    ),
    (
        "activities.import_button",
        "Importer le calendrier",
        "Import the calendar",
    ),
    (
        "activities.report_title",
        "Calendrier importé",
        "Calendar imported",
    ),
    (
        "activities.report_dry_title",
        "Simulation de l’import",
        "Import dry run",
    ),
    ("activities.created", "Créées", "Created"),
    ("activities.updated", "Mises à jour", "Updated"),
    ("activities.unchanged", "Inchangées", "Unchanged"),
    ("activities.refused", "Refusées", "Refused"),
    (
        "activities.refused_title",
        "Événements refusés",
        "Refused events",
    ),
    ("activities.notes_title", "Remarques", "Remarks"),
    ("activities.line", "Ligne", "Line"),
    ("activities.property", "Propriété", "Property"),
    ("activities.reason", "Motif", "Reason"),
    (
        "activities.back",
        "Voir les activités",
        "See the activities",
    ),
    (
        "activities.no_file",
        "Choisissez un fichier .ics.",
        "Choose an .ics file.",
    ),
    (
        "activities.unreadable",
        "Ce fichier n’est pas un calendrier iCalendar lisible :",
        "This file is not a readable iCalendar calendar:",
    ),
    (
        "activities.too_large",
        "Le fichier dépasse 16 Mo.",
        "The file is over 16 MB.",
    ),
    ("activities.filters", "Filtres", "Filters"),
    ("activities.any_kind", "Tous les types", "Every kind"),
    ("activities.status", "État", "Status"),
    (
        "activities.any_status",
        "Faites ou à faire",
        "Done or to do",
    ),
    ("activities.to_do", "À faire", "To do"),
    ("activities.filter", "Filtrer", "Filter"),
    ("activities.edit", "Modifier", "Edit"),
    ("activities.save", "Enregistrer", "Save"),
    ("activities.cancel", "Annuler", "Cancel"),
    ("activities.trash", "Supprimer", "Delete"),
    ("activities.restore", "Restaurer", "Restore"),
    ("activities.actions", "Actions", "Actions"),
    ("activities.trash_link", "Corbeille", "Trash"),
    (
        "activities.trash_title",
        "Activités dans la corbeille",
        "Activities in the trash",
    ),
    ("activities.all", "Toutes les activités", "All activities"),
    (
        "activities.trash_empty",
        "La corbeille ne contient aucune activité.",
        "No activities in the trash.",
    ),
    (
        "activities.saved",
        "Activité enregistrée.",
        "Activity saved.",
    ),
    (
        "activities.trashed",
        "Activité placée dans la corbeille.",
        "Activity moved to the trash.",
    ),
    (
        "activities.restored",
        "Activité restaurée.",
        "Activity restored.",
    ),
    (
        "activities.edit_stale",
        "Cette activité a été modifiée par quelqu'un d'autre entre-temps ; rechargez la page pour voir la nouvelle version.",
        "Someone else changed this activity meanwhile; reload the page to see the new version.",
    ),
    ("contacts.activities", "Activités", "Activities"),
    (
        "contacts.no_activities",
        "Aucune activité.",
        "No activities.",
    ),
    ("export.ics", "iCalendar (.ics)", "iCalendar (.ics)"),
    ("imports.title", "Importer des contacts", "Import contacts"),
    ("imports.steps", "Étapes de l’import", "Import steps"),
    ("imports.step_file", "1. Fichier", "1. File"),
    (
        "imports.step_mapping",
        "2. Colonnes et aperçu",
        "2. Columns and preview",
    ),
    (
        "imports.step_report",
        "3. Import et rapport",
        "3. Import and report",
    ),
    ("imports.file", "Fichier", "File"),
    (
        "imports.file_hint",
        "CSV (Excel, Google, Outlook ; tout encodage et séparateur), classeur Excel (première feuille), vCard ou export JSON de Carnet.",
        "CSV (Excel, Google, Outlook; any encoding and delimiter), Excel workbook (first sheet), vCard or a Carnet JSON export.",
    ),
    ("imports.encoding", "Encodage", "Encoding"),
    ("imports.recent", "Imports récents", "Recent imports"),
    ("imports.state", "État", "Status"),
    ("imports.status_draft", "À configurer", "To set up"),
    ("imports.sheet", "Feuille du classeur", "Workbook sheet"),
    ("imports.show_sheet", "Afficher", "Show"),
    ("imports.delimiter", "Séparateur", "Delimiter"),
    (
        "imports.detect",
        "Détecter automatiquement",
        "Detect automatically",
    ),
    ("imports.tab", "Tabulation", "Tab"),
    (
        "imports.upload",
        "Envoyer et continuer",
        "Upload and continue",
    ),
    (
        "imports.no_file",
        "Choisissez un fichier à importer.",
        "Choose a file to import.",
    ),
    (
        "imports.unreadable",
        "Ce fichier ne peut pas être lu : vérifiez son format, son encodage et sa ligne d’en-tête.",
        "This file cannot be read: check its format, encoding and header row.",
    ),
    (
        "imports.too_large",
        "Ce fichier est trop volumineux (256 Mo au plus).",
        "This file is too large (256 MB at most).",
    ),
    (
        "imports.mapping_title",
        "Colonnes et aperçu",
        "Columns and preview",
    ),
    ("imports.read_as", "lu comme", "read as"),
    ("imports.column", "Colonne du fichier", "File column"),
    ("imports.example", "Exemple", "Example"),
    ("imports.field", "Champ", "Field"),
    ("imports.auto", "Automatique", "Automatic"),
    (
        "imports.preview",
        "Aperçu des premières lignes",
        "Preview of the first rows",
    ),
    (
        "imports.no_preview",
        "Pas d’aperçu pour ce fichier.",
        "No preview for this file.",
    ),
    ("imports.row", "Ligne", "Row"),
    ("imports.other_fields", "Autres champs", "Other fields"),
    ("imports.would_refuse", "Ligne refusée :", "Row refused:"),
    (
        "imports.mode",
        "Que faire de chaque ligne",
        "What to do with each row",
    ),
    (
        "imports.mode_upsert",
        "Créer ou mettre à jour",
        "Create or update",
    ),
    ("imports.mode_create", "Créer seulement", "Create only"),
    (
        "imports.mode_update",
        "Mettre à jour seulement",
        "Update only",
    ),
    (
        "imports.match",
        "Retrouver les contacts existants par",
        "Find existing contacts by",
    ),
    ("imports.match_email", "Adresse e-mail", "E-mail address"),
    ("imports.match_id", "Identifiant Carnet", "Carnet id"),
    (
        "imports.dry_run",
        "Simulation : compter sans rien enregistrer",
        "Dry run: count without saving anything",
    ),
    ("imports.start", "Lancer l’import", "Run the import"),
    ("imports.report_title", "Import", "Import"),
    ("imports.status_queued", "En attente", "Waiting"),
    ("imports.status_running", "En cours", "Running"),
    ("imports.status_succeeded", "Terminé", "Finished"),
    ("imports.status_failed", "Échec", "Failed"),
    (
        "imports.dry_note",
        "Simulation : rien n’a été enregistré.",
        "Dry run: nothing was saved.",
    ),
    ("imports.rows", "Lignes lues", "Rows read"),
    ("imports.created", "Créés", "Created"),
    ("imports.updated", "Mis à jour", "Updated"),
    ("imports.unchanged", "Inchangés", "Unchanged"),
    ("imports.rejected", "Lignes refusées", "Rows refused"),
    ("imports.rejections", "Lignes refusées", "Refused rows"),
    ("imports.reason", "Raison", "Reason"),
    (
        "imports.more_rejections",
        "Les lignes refusées suivantes sont dans l’API :",
        "The other refused rows are in the API:",
    ),
    (
        "imports.view_contacts",
        "Voir les contacts",
        "View contacts",
    ),
    (
        "imports.again",
        "Importer un autre fichier",
        "Import another file",
    ),
    ("app.skip", "Aller au contenu", "Skip to content"),
    ("nav.main", "Navigation principale", "Main navigation"),
    ("nav.contacts", "Contacts", "Contacts"),
    ("nav.trash", "Corbeille", "Trash"),
    ("nav.workspace", "Espace de travail", "Workspace"),
    ("nav.switch", "Changer", "Switch"),
    ("nav.language", "Langue", "Language"),
    ("nav.signout", "Se déconnecter", "Sign out"),
    ("search.label", "Rechercher", "Search"),
    (
        "search.placeholder",
        "Rechercher un contact… ( / )",
        "Search contacts… ( / )",
    ),
    ("login.title", "Se connecter", "Sign in"),
    ("login.email", "Adresse e-mail", "E-mail address"),
    ("login.password", "Mot de passe", "Password"),
    ("login.submit", "Se connecter", "Sign in"),
    (
        "login.failed",
        "Adresse e-mail ou mot de passe incorrect.",
        "Wrong e-mail address or password.",
    ),
    (
        "login.expired",
        "Le formulaire a expiré ; veuillez réessayer.",
        "The form expired; please try again.",
    ),
    ("contacts.title", "Contacts", "Contacts"),
    ("contacts.trash_title", "Corbeille", "Trash"),
    ("contacts.new", "Nouveau contact", "New contact"),
    ("contacts.edit", "Modifier", "Edit"),
    ("contacts.delete", "Supprimer", "Delete"),
    ("contacts.restore", "Restaurer", "Restore"),
    ("contacts.save", "Enregistrer", "Save"),
    ("contacts.cancel", "Annuler", "Cancel"),
    ("contacts.name", "Nom", "Name"),
    ("contacts.first_name", "Prénom", "First name"),
    ("contacts.last_name", "Nom", "Last name"),
    ("contacts.job_title", "Fonction", "Job title"),
    ("contacts.emails", "E-mails", "E-mails"),
    ("contacts.email", "E-mail", "E-mail"),
    ("contacts.phones", "Téléphones", "Phones"),
    ("contacts.phone", "Téléphone", "Phone"),
    ("contacts.label", "Libellé", "Label"),
    ("contacts.tags", "Étiquettes", "Tags"),
    (
        "contacts.tags_hint",
        "Séparées par des virgules",
        "Separated by commas",
    ),
    ("contacts.updated", "Modifié le", "Updated"),
    (
        "contacts.empty",
        "Aucun contact pour l'instant. Créez le premier !",
        "No contacts yet. Create the first one!",
    ),
    (
        "contacts.no_match",
        "Aucun contact ne correspond à votre recherche.",
        "No contact matches your search.",
    ),
    (
        "contacts.trash_empty",
        "La corbeille est vide.",
        "The trash is empty.",
    ),
    ("contacts.next", "Page suivante", "Next page"),
    ("contacts.first_page", "Première page", "First page"),
    (
        "contacts.in_trash",
        "Ce contact est dans la corbeille.",
        "This contact is in the trash.",
    ),
    ("contacts.created", "Contact créé.", "Contact created."),
    (
        "contacts.saved",
        "Modifications enregistrées.",
        "Changes saved.",
    ),
    (
        "contacts.deleted",
        "Contact placé dans la corbeille.",
        "Contact moved to the trash.",
    ),
    (
        "contacts.restored",
        "Contact restauré.",
        "Contact restored.",
    ),
    (
        "contacts.fix_errors",
        "Veuillez corriger les champs signalés.",
        "Please correct the highlighted fields.",
    ),
    (
        "contacts.stale",
        "Ce contact a été modifié par quelqu'un d'autre entre-temps ; rechargez la page pour voir la nouvelle version.",
        "Someone else changed this contact meanwhile; reload the page to see the new version.",
    ),
    ("contacts.timeline", "Historique", "Timeline"),
    ("contacts.details", "Informations", "Details"),
    ("contacts.sort_by", "Trier par", "Sort by"),
    ("export.button", "Exporter", "Export"),
    ("export.xlsx", "Excel (.xlsx)", "Excel (.xlsx)"),
    (
        "export.excel_fr",
        "CSV pour Excel (point-virgule)",
        "CSV for French Excel (semicolons)",
    ),
    ("export.csv", "CSV (virgule, UTF-8)", "CSV (comma, UTF-8)"),
    (
        "export.vcf",
        "vCard (carnet d'adresses)",
        "vCard (address book)",
    ),
    ("export.json", "JSON", "JSON"),
    ("label.work", "Travail", "Work"),
    ("label.home", "Domicile", "Home"),
    ("label.mobile", "Mobile", "Mobile"),
    ("label.other", "Autre", "Other"),
    ("audit.create", "Création", "Created"),
    ("audit.update", "Modification", "Changed"),
    ("audit.delete", "Mise à la corbeille", "Moved to trash"),
    ("audit.restore", "Restauration", "Restored"),
    (
        "error.title",
        "Une erreur est survenue",
        "Something went wrong",
    ),
    ("error.not_found", "Page introuvable.", "Page not found."),
    (
        "error.forbidden",
        "Vous n'avez pas le droit de faire cela.",
        "You are not allowed to do this.",
    ),
    (
        "error.internal",
        "Le serveur a rencontré une erreur. Référence :",
        "The server failed. Reference:",
    ),
    ("error.back", "Retour aux contacts", "Back to contacts"),
    (
        "error.no_workspace",
        "Vous n'appartenez à aucun espace de travail.",
        "You do not belong to any workspace.",
    ),
];

/// Translator for one language; templates call `t.t("key")`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn t(&self, key: &str) -> &'static str {
        MESSAGES
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, fr, en)| match self.lang {
                Lang::Fr => *fr,
                Lang::En => *en,
            })
            .unwrap_or("??")
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_translated() {
        for (i, (key, fr, en)) in MESSAGES.iter().enumerate() {
            assert!(!fr.is_empty() && !en.is_empty(), "{key}");
            assert!(
                MESSAGES[i + 1..].iter().all(|(k, _, _)| k != key),
                "duplicate {key}"
            );
        }
        assert_eq!(Tr { lang: Lang::Fr }.t("nav.trash"), "Corbeille");
        assert_eq!(Tr { lang: Lang::En }.t("nav.trash"), "Trash");
    }

    #[test]
    fn templates_use_only_known_keys() {
        let templates = [
            include_str!("../../templates/base.html"),
            include_str!("../../templates/login.html"),
            include_str!("../../templates/error.html"),
            include_str!("../../templates/contacts/list.html"),
            include_str!("../../templates/contacts/results_body.html"),
            include_str!("../../templates/contacts/form.html"),
            include_str!("../../templates/contacts/show.html"),
            include_str!("../../templates/imports/new.html"),
            include_str!("../../templates/imports/mapping.html"),
            include_str!("../../templates/imports/preview_body.html"),
            include_str!("../../templates/imports/status.html"),
            include_str!("../../templates/imports/progress_body.html"),
        ];
        for text in templates {
            for part in text.split("t.t(\"").skip(1) {
                let key = part.split('"').next().unwrap_or_default();
                assert!(
                    MESSAGES.iter().any(|(k, _, _)| *k == key),
                    "unknown key {key}"
                );
            }
        }
    }

    #[test]
    fn accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Fr);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE, en-GB;q=0.8, fr;q=0.5".parse().unwrap(),
        );
        assert_eq!(Lang::from_headers(&h), Lang::En);
    }
}
