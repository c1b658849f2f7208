-- +goose Up
-- An admin made by staff, or by an accepted invitation, claims the license like a first
-- registrant (issue 18): claimed_by is who registered it, and a registration of a claimed license
-- waits for its admins. Before this, only a registration set claimed_by, so a license whose only
-- admins were made by staff was open to a second "first" admin. Claim each such license for its
-- earliest verified admin, on the day that admin's membership began, and start a trial's support
-- that day (30 days: models.TrialDays), as the code now does at the moment of the grant.
UPDATE licenses AS l
SET claimed_by = first.user_id, registered_on = (first.since AT TIME ZONE 'UTC')::date
FROM (
    SELECT DISTINCT ON (m.license_id) m.license_id, m.user_id, m.since
    FROM members m JOIN users u ON u.id = m.user_id
    WHERE m.role_admin AND u.email_verified_at IS NOT NULL
    ORDER BY m.license_id, m.since, m.id
) AS first
WHERE l.id = first.license_id AND l.claimed_by IS NULL;

UPDATE contracts AS c
SET starts_on = l.registered_on, ends_on = l.registered_on + 30
FROM licenses l
WHERE c.license_id = l.id AND l.kind = 'trial' AND c.starts_on IS NULL AND l.registered_on IS NOT NULL;

-- +goose Down
-- Nothing to undo: the claims are what the data always meant.
SELECT 1;
