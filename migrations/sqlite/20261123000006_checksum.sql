-- Outputs of the `checksum` demo kind (cluster tests compare them byte for byte).
CREATE TABLE checksum_outputs (
    job           TEXT NOT NULL,
    business_date DATE NOT NULL,
    item          BIGINT NOT NULL,
    line          BIGINT NOT NULL,
    record_key    TEXT NOT NULL,
    amount        TEXT NOT NULL,
    PRIMARY KEY (job, business_date, item, line)
);
