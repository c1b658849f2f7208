package depchk

import (
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/go-webauthn/webauthn/webauthn"
	_ "github.com/pquerna/otp/totp"
	_ "golang.org/x/oauth2"
)
