package models

import "time"

// Help request states.
const (
	HelpOpen     = "open"
	HelpResolved = "resolved"
)

// HelpRequest is a "trouble registering" request from anyone, worked by staff support.
type HelpRequest struct {
	ID            int64
	Name          string
	Email         string
	Company       string
	LicenseNumber *string
	AccountID     *string
	Message       string
	Status        string
	CreatedAt     time.Time
	ResolvedAt    *time.Time
	ResolvedBy    *int64
	Note          *string
}

// HelpInput is a new help request.
type HelpInput struct {
	Name, Email, Company, LicenseNumber, AccountID, Message string
}
