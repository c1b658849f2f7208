// Package templates holds the files that are built into the binary. Today that is mail/, the
// letters the mailer renders; the portal's pages/ and static/ will join it, each one more
// directory in the go:embed line below.
//
// Letters live in mail/ as a pair for each letter kind NAME: NAME.txt.tmpl (text/template; it
// defines "subject" and its body is the text part) and NAME.html.tmpl (html/template, the HTML
// part). mail/shared/ holds the pieces letters share (the HTML layout, the text footer).
package templates

import "embed"

// FS is the embedded file tree, rooted so that paths start with the directory: "mail/test.txt.tmpl".
//
//go:embed mail
var FS embed.FS
