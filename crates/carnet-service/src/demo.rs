//! Demo data: a workspace with realistic French and English contacts, for trying Carnet.

use crate::admin::NewUser;
use crate::context::TenantContext;
use crate::secrets::random_alnum;
use crate::{Carnet, ServiceResult};
use carnet_core::activity::{ActivityInput, ActivityKind};
use carnet_core::text::fold;
use carnet_core::{ActivityId, ContactId, ContactInput, LabeledValue, Role};
use carnet_store::activities::{self, NewActivity};
use carnet_store::audit;
use carnet_store::contacts::{self, NewContact};
use carnet_store::tenants;
use chrono::{DateTime, Duration, Utc};
use serde_json::Map;

/// The demo workspace's slug, and its administrator's login.
pub const DEMO_SLUG: &str = "demo";
pub const DEMO_EMAIL: &str = "admin@demo.carnet.test";

/// Demo contacts written per transaction.
const SEED_BATCH: usize = 5000;

const FIRST_FR: &[&str] = &[
    "Éloïse",
    "Camille",
    "Léa",
    "Chloé",
    "Manon",
    "Inès",
    "Zoé",
    "Agathe",
    "Hélène",
    "Cécile",
    "Amélie",
    "Océane",
    "Maëlle",
    "Noémie",
    "Gaëlle",
    "Louis",
    "Gabriel",
    "Raphaël",
    "Jules",
    "Hugo",
    "Théo",
    "Lucas",
    "Étienne",
    "François",
    "Jérôme",
    "Benoît",
    "Grégoire",
    "Thibault",
    "Maxime",
    "Aurélien",
];
const LAST_FR: &[&str] = &[
    "Lefèvre",
    "Martin",
    "Bernard",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Garçon",
    "Rousseau",
    "Fontaine",
    "Chevalier",
    "Girard",
    "Bonnet",
    "Mercier",
    "Lemaître",
    "Faure",
    "Gauthier",
    "Perrin",
    "Brûlé",
    "Châtelain",
    "Dupré",
    "Béranger",
    "Lacroix",
    "Méndez",
];
const FIRST_EN: &[&str] = &[
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Emily",
    "Sophie",
    "Grace",
    "Charlotte",
    "Harriet",
    "Ruth",
    "Oliver",
    "George",
    "Harry",
    "Jack",
    "Noah",
    "Arthur",
    "William",
    "Thomas",
    "James",
    "Edward",
];
const LAST_EN: &[&str] = &[
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "O'Brien", "Hughes", "Clarke",
];
const DOMAINS_FR: &[&str] = &[
    "cabinet-durand.fr",
    "agence-lumiere.fr",
    "boulangerie-martin.fr",
    "atelier-nord.fr",
    "conseil-horizon.fr",
    "expert-compta-lyon.fr",
];
const DOMAINS_EN: &[&str] = &[
    "northwind.co.uk",
    "brightside.io",
    "oakfield-partners.com",
    "redbrick.co.uk",
];
const TITLES_FR: &[&str] = &[
    "Directrice générale",
    "Expert-comptable",
    "Responsable marketing",
    "Chargé d'affaires",
    "Gérant",
    "Assistante de direction",
    "Directeur financier",
    "Chef de projet",
];
const TITLES_EN: &[&str] = &[
    "Managing Director",
    "Account Manager",
    "Head of Sales",
    "Office Manager",
    "CFO",
    "Consultant",
];
const TAGS: &[&str] = &[
    "Client",
    "Prospect",
    "VIP",
    "Partenaire",
    "Fournisseur",
    "Newsletter",
];

/// Demo activity subjects, by kind (call, meeting, task, e-mail).
const SUBJECTS: [&[&str]; 4] = [
    &["Appel de suivi", "Relance téléphonique", "Follow-up call"],
    &[
        "Rendez-vous de présentation",
        "Bilan annuel",
        "Product demo",
    ],
    &[
        "Envoyer le devis",
        "Préparer le contrat",
        "Send the proposal",
    ],
    &[
        "Relance facture",
        "Envoi de la documentation",
        "Quote follow-up",
    ],
];

/// A small deterministic generator: the same demo every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.next() % items.len() as u64).unwrap_or(0);
        items[i]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn ascii_local(s: &str) -> String {
    fold(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The `n`-th demo contact: French for two in three, English otherwise.
fn demo_contact(rng: &mut Rng) -> ContactInput {
    let french = rng.below(3) != 0;
    let (first, last, domain, title) = if french {
        (
            rng.pick(FIRST_FR),
            rng.pick(LAST_FR),
            rng.pick(DOMAINS_FR),
            rng.pick(TITLES_FR),
        )
    } else {
        (
            rng.pick(FIRST_EN),
            rng.pick(LAST_EN),
            rng.pick(DOMAINS_EN),
            rng.pick(TITLES_EN),
        )
    };
    // A number, as many people's addresses have: the name pairs alone give a few thousand
    // addresses, which a million contacts would share (and an import by e-mail would merge).
    let email = format!(
        "{}.{}{}@{domain}",
        ascii_local(first),
        ascii_local(last),
        rng.below(10_000)
    );
    let phone = if french {
        format!(
            "+33 6 {:02} {:02} {:02} {:02}",
            rng.below(100),
            rng.below(100),
            rng.below(100),
            rng.below(100)
        )
    } else {
        format!("+44 7700 {:06}", rng.below(1_000_000))
    };
    let mut tags = vec![rng.pick(TAGS).to_owned()];
    if rng.below(4) == 0 {
        let extra = rng.pick(TAGS).to_owned();
        if extra != tags[0] {
            tags.push(extra);
        }
    }
    ContactInput {
        first_name: Some(first.to_owned()),
        last_name: Some(last.to_owned()),
        emails: vec![LabeledValue {
            label: "work".into(),
            value: email,
        }],
        phones: vec![LabeledValue {
            label: "mobile".into(),
            value: phone,
        }],
        company_id: None,
        job_title: Some(title.to_owned()),
        tags,
        custom: Map::new(),
        owner_id: None,
    }
}

/// A demo activity about `contact`, within 180 days of `now`; half of the past ones done.
fn demo_activity(rng: &mut Rng, contact: ContactId, now: DateTime<Utc>) -> ActivityInput {
    let k = usize::try_from(rng.below(4)).unwrap_or(0);
    let kind = ActivityKind::ALL[k];
    let day = i64::try_from(rng.below(361)).unwrap_or(0) - 180;
    let hour = i64::try_from(8 + rng.below(10)).unwrap_or(8);
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(now, |t| t.and_utc());
    let starts_at = midnight + Duration::days(day) + Duration::hours(hour);
    let ends_at = matches!(kind, ActivityKind::Call | ActivityKind::Meeting)
        .then(|| starts_at + Duration::minutes(if kind == ActivityKind::Call { 30 } else { 60 }));
    ActivityInput {
        kind,
        subject: rng.pick(SUBJECTS[k]).to_owned(),
        description: None,
        location: (kind == ActivityKind::Meeting).then(|| "Visioconférence".to_owned()),
        starts_at,
        ends_at,
        done: starts_at < now && rng.below(2) == 0,
        contact_id: Some(contact),
        owner_id: None,
    }
}

/// The demo login, printed once when the demo workspace is first created.
#[derive(Debug)]
pub struct DemoLogin {
    pub email: String,
    pub password: String,
}

impl Carnet {
    /// Adds `count` demo contacts to a tenant, written in multi-row statements and committed
    /// every `SEED_BATCH` contacts (benchmarks seed a million this way).
    pub async fn seed_contacts(&self, ctx: &TenantContext, count: usize) -> ServiceResult<usize> {
        ctx.require_write()?;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (count as u64));
        let owner = match ctx.actor {
            crate::Actor::User(u) => Some(u),
            _ => None,
        };
        let mut left = count;
        while left > 0 {
            let n = left.min(SEED_BATCH);
            left -= n;
            let inputs: Vec<ContactInput> = (0..n)
                .map(|_| ContactInput {
                    owner_id: owner,
                    ..demo_contact(&mut rng)
                })
                .collect();
            let news = NewContact::each(&inputs);
            let now = self.now();
            let events: Vec<_> = news
                .iter()
                .map(|c| {
                    let fields = ContactInput::default().changed_fields(c.input);
                    crate::contacts::audit_event(ctx, "create", c.id, fields, now)
                })
                .collect();
            let mut tx = self.db.tenant_write(ctx.tenant).await?;
            contacts::insert_many(&mut tx, &news, ctx.actor.id(), now).await?;
            audit::append_many(&mut tx, &events).await?;
            tx.commit().await?;
        }
        Ok(count)
    }

    /// Gives up to `count` contacts of the tenant (the oldest first, not in the trash) one
    /// demo activity each, written in multi-row statements; returns how many were added.
    pub async fn seed_activities(&self, ctx: &TenantContext, count: usize) -> ServiceResult<usize> {
        ctx.require_write()?;
        let mut rng = Rng(0xA5A5_5A5A_0F0F_F0F0 ^ (count as u64));
        let owner = match ctx.actor {
            crate::Actor::User(u) => Some(u),
            _ => None,
        };
        let (mut added, mut after) = (0, None);
        while added < count {
            let now = self.now();
            let mut tx = self.db.tenant_write(ctx.tenant).await?;
            let want = (count - added).min(SEED_BATCH);
            let page = contacts::archive_page(&mut tx, after, want as i64).await?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.contact.id.0);
            let inputs: Vec<ActivityInput> = page
                .iter()
                .filter(|a| a.contact.deleted_at.is_none())
                .map(|a| ActivityInput {
                    owner_id: owner,
                    ..demo_activity(&mut rng, a.contact.id, now)
                })
                .collect();
            let news: Vec<NewActivity> = inputs
                .iter()
                .map(|input| NewActivity {
                    id: ActivityId::new(),
                    input,
                })
                .collect();
            let events: Vec<_> = news
                .iter()
                .map(|a| {
                    let fields = a.input.set_fields();
                    crate::activities::audit_event(ctx, "create", a.id, fields, now)
                })
                .collect();
            activities::insert_many(&mut tx, &news, ctx.actor.id(), now).await?;
            audit::append_many(&mut tx, &events).await?;
            tx.commit().await?;
            added += news.len();
        }
        Ok(added)
    }

    /// Creates the demo workspace, its administrator, 200 contacts and 100 activities, unless
    /// it exists.
    /// Returns the login only when it was just created: the password is not kept anywhere else.
    pub async fn ensure_demo(&self) -> ServiceResult<Option<DemoLogin>> {
        let mut tx = self.db.begin_read().await?;
        let exists = tenants::by_slug(&mut tx, DEMO_SLUG).await?.is_some();
        drop(tx);
        if exists {
            return Ok(None);
        }
        let tenant = self.create_tenant(DEMO_SLUG, "Démo SARL").await?;
        let password = random_alnum(16);
        let (user, _) = self
            .create_user(NewUser {
                email: DEMO_EMAIL,
                display_name: Some("Admin Démo"),
                password: &password,
                tenant_slug: DEMO_SLUG,
                role: Role::Owner,
            })
            .await?;
        let ctx = TenantContext {
            actor: crate::Actor::User(user.id),
            ..TenantContext::system(tenant.id)
        };
        self.seed_contacts(&ctx, 200).await?;
        self.seed_activities(&ctx, 100).await?;
        Ok(Some(DemoLogin {
            email: DEMO_EMAIL.to_owned(),
            password,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_activities_are_valid_and_varied() {
        let mut rng = Rng(7);
        let now = chrono::Utc::now();
        let contact = ContactId::new();
        let all: Vec<ActivityInput> = (0..200)
            .map(|_| demo_activity(&mut rng, contact, now))
            .collect();
        for a in &all {
            assert_eq!(ActivityInput::from_json(&a.to_json()).as_ref(), Ok(a));
            assert!((a.starts_at - now).num_days().abs() <= 181);
            assert!(
                !a.done || a.starts_at < now,
                "only past activities are done"
            );
        }
        for kind in ActivityKind::ALL {
            assert!(all.iter().any(|a| a.kind == kind), "{kind}");
        }
        assert!(all.iter().any(|a| a.done) && all.iter().any(|a| !a.done));
    }

    #[test]
    fn demo_contacts_are_valid_and_varied() {
        let mut rng = Rng(42);
        let contacts: Vec<ContactInput> = (0..200).map(|_| demo_contact(&mut rng)).collect();
        for c in &contacts {
            assert!(ContactInput::from_json(&c.to_json()).is_ok(), "{c:?}");
        }
        let french = contacts
            .iter()
            .filter(|c| c.phones[0].value.starts_with("+33"))
            .count();
        assert!(french > 80 && french < 180, "{french}");
        assert!(
            contacts
                .iter()
                .any(|c| c.first_name.as_deref() == Some("Éloïse"))
        );
    }
}
