-- The role and database of coalgate's central store (docs/operations.md "PostgreSQL").
-- Run as a superuser, once:
--     psql -v role=coalgate -v password=SECRET -v db=coalgate -f create-database.sql
-- then `coalgate central migrate` as that role creates the tables (TimescaleDB's extension
-- too, when the server has it available: the first migration creates it, which needs the
-- database owner to be allowed to; CREATE EXTENSION timescaledb here as superuser if not).
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role" ENCODING 'UTF8' TEMPLATE template0;
\connect :"db"
-- Only the owner may create objects in the database's public schema.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"role";
SELECT name, default_version, installed_version
FROM pg_available_extensions WHERE name = 'timescaledb';
