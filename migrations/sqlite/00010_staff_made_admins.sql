-- +goose Up
-- An admin made by staff, or by an accepted invitation, claims the license like a first
-- registrant (issue 18): claimed_by is who registered it, and a registration of a claimed license
-- waits for its admins. Before this, only a registration set claimed_by, so a license whose only
-- admins were made by staff was open to a second "first" admin. Claim each such license for its
-- earliest verified admin, on the day that admin's membership began (times are stored in UTC,
-- date first), and start a trial's support that day (30 days: models.TrialDays), as the code now
-- does at the moment of the grant.
UPDATE licenses
SET claimed_by = (
        SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id
        WHERE m.license_id = licenses.id AND m.role_admin AND u.email_verified_at IS NOT NULL
        ORDER BY m.since, m.id LIMIT 1),
    registered_on = (
        SELECT substr(m.since, 1, 10) FROM members m JOIN users u ON u.id = m.user_id
        WHERE m.license_id = licenses.id AND m.role_admin AND u.email_verified_at IS NOT NULL
        ORDER BY m.since, m.id LIMIT 1)
WHERE claimed_by IS NULL AND EXISTS (
        SELECT 1 FROM members m JOIN users u ON u.id = m.user_id
        WHERE m.license_id = licenses.id AND m.role_admin AND u.email_verified_at IS NOT NULL);

UPDATE contracts
SET starts_on = (SELECT registered_on FROM licenses WHERE licenses.id = contracts.license_id),
    ends_on = date((SELECT registered_on FROM licenses WHERE licenses.id = contracts.license_id), '+30 days')
WHERE starts_on IS NULL AND license_id IN (
        SELECT id FROM licenses WHERE kind = 'trial' AND registered_on IS NOT NULL);

-- +goose Down
-- Nothing to undo: the claims are what the data always meant.
SELECT 1;
