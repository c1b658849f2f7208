// Package templates holds the files that are built into the binary: mail/, the letters the
// mailer renders; pages/, the portal's server-rendered pages; static/, their stylesheet.
//
// Letters live in mail/ as a pair for each letter kind NAME: NAME.txt.tmpl (text/template; it
// defines "subject" and its body is the text part) and NAME.html.tmpl (html/template, the HTML
// part). mail/shared/ holds the pieces letters share (the HTML layout, the text footer).
package templates

import "embed"

// FS is the embedded file tree, rooted so that paths start with the directory: "mail/test.txt.tmpl".
//
//go:embed mail pages static
var FS embed.FS
