DROP TABLE job_rejections;
DROP TABLE job_chunks;
DROP TABLE jobs;
