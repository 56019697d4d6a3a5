DROP TABLE maintenance_updates;
DROP TABLE maintenance_components;
DROP TABLE maintenances;
DROP TABLE probe_results;
DROP TABLE incident_updates;
DROP TABLE incident_components;
DROP TABLE incidents;
DROP TABLE components;
