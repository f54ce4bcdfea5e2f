-- The API: acknowledgements of alarms (POST /api/v1/alarms/{id}/ack), at most one per alarm,
-- kept beside the alarm rows (which ingest writes and never updates); indexes for record queries.

CREATE TABLE alarm_acks (
    alarm_id bigint PRIMARY KEY REFERENCES alarms (id),
    at       bigint NOT NULL,
    actor    text NOT NULL,
    note     text NOT NULL
);

-- The records API filters across devices by time, plate and ticket (weighing facts).
CREATE INDEX records_ts ON records (ts);
CREATE INDEX weighings_plate ON weighings (plate);
CREATE INDEX weighings_ticket ON weighings (ticket);
