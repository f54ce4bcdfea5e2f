-- Sightings: what a checkpoint officer saw on the road (POST /api/v1/sightings), with the
-- verdict of the QR shown, if any. Operational data: written by the API, never audited.
-- A checkpoint token now names its checkpoint (tokens made before this migration name none and
-- may verify but not record sightings). Times are UTC milliseconds.

ALTER TABLE api_tokens ADD COLUMN checkpoint text REFERENCES checkpoints (id)
    CHECK (checkpoint IS NULL OR role = 'checkpoint');

CREATE TABLE sightings (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    checkpoint   text NOT NULL REFERENCES checkpoints (id),
    token        bigint NOT NULL REFERENCES api_tokens (id),
    kind         text NOT NULL CHECK (kind IN ('ticket', 'receipt', 'manual')),
    cti          bytea CHECK (length(cti) = 16),  -- no reference: a forged QR names any cti
    plate        text,                            -- normalised; null if the QR named none
    seen_at      bigint NOT NULL,                 -- the officer's device clock
    recorded_at  bigint NOT NULL,                 -- central's clock
    valid        boolean,                         -- the QR verified offline; null if manual
    reason       text,                            -- the first failed check, if any
    ticket_state text,                            -- the ticket's state at central then
    record_id    bytea CHECK (length(record_id) = 32),  -- a receipt's weighing record
    CHECK ((kind = 'manual') = (valid IS NULL))
);
CREATE INDEX sightings_checkpoint ON sightings (checkpoint, id);
CREATE INDEX sightings_cti ON sightings (cti);
CREATE INDEX sightings_plate ON sightings (plate);
