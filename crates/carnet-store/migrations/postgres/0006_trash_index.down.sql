DROP INDEX contacts_trash;
