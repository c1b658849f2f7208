-- +goose Up
-- Letters the mail server accepted, by Message-ID: the mail worker writes a row right after the
-- server's 250, in its own short transaction, and looks for it before sending. River marks a
-- job completed later, in batches, so a process killed in between left sent letters "running";
-- when their jobs are rescued the row says they went out, and they are not sent again. Rows
-- older than a few days are pruned hourly (a job is rescued after minutes and retried for hours).
CREATE TABLE sent_letters (
    message_id  TEXT PRIMARY KEY,
    sent_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX sent_letters_sent_at ON sent_letters (sent_at);

-- +goose Down
DROP TABLE sent_letters;
