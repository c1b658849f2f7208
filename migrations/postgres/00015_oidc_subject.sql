-- +goose Up
-- Staff single sign-on (OpenID Connect): the `sub` claim of the company identity provider a user
-- signs in with, which is how the next sign-in finds them again (an email may change at the IdP;
-- the subject does not). '' for everyone who signs in with a password. Unique among the users
-- who have one, so that one person at the IdP is one user here.
ALTER TABLE users ADD COLUMN oidc_subject TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_oidc_subject ON users (oidc_subject) WHERE oidc_subject <> '';

-- +goose Down
DROP INDEX users_oidc_subject;
ALTER TABLE users DROP COLUMN oidc_subject;
