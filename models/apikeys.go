package models

import "time"

// APIKey is a machine client's credential; the key itself is never stored, only its hash.
type APIKey struct {
	ID         int64
	Name       string
	Prefix     string
	KeyHash    string
	Scopes     string // comma-separated
	CreatedAt  time.Time
	CreatedBy  *int64
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

func (APIKey) TableName() string { return "api_keys" }

// ScopeList is the key's scopes as a list.
func (k *APIKey) ScopeList() []string { return ParseRoleList(k.Scopes) }
