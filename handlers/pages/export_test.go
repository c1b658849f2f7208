package pages

// What the portal's tests (package pages_test, which drives the real router) need to know of the
// portal's insides: the cookies' names and the CSRF token of a seed.

const (
	SessionCookie = sessionCookie
	CSRFCookie    = csrfCookie
	FlashCookie   = flashCookie
	CSRFField     = csrfField
)

var CSRFToken = csrfToken
