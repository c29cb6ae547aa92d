package discovery

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizeHost lower-cases a virtual host name and checks that it is a DNS
// name (optionally starting with "*." for a wildcard), so it is safe to place
// unquoted in an nginx config.
func NormalizeHost(h string) (string, error) {
	h = strings.ToLower(h)
	if h == "" {
		return "", errors.New("is empty")
	}
	if len(h) > 253 {
		return "", errors.New("is longer than 253 characters")
	}
	rest := h
	if strings.HasPrefix(rest, "*.") {
		rest = rest[2:]
	}
	for _, part := range strings.Split(rest, ".") {
		if part == "" || len(part) > 63 {
			return "", errors.New("is not a DNS name (empty or over-long label)")
		}
		if part[0] == '-' || part[len(part)-1] == '-' {
			return "", errors.New("is not a DNS name (a label starts or ends with '-')")
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", errors.New("is not a DNS name (only letters, digits, '-', '_' and '.' are allowed, with an optional leading '*.')")
			}
		}
	}
	return h, nil
}

// ValidPath checks that p is an absolute URI path made of characters that
// need no quoting in nginx: letters and digits (any script), '/' and
// -._~:@!*+,=&. Spaces, quotes, ';', '{', '}', '$', '#' and '\' are refused.
// '%' is refused too: nginx matches locations against the decoded URI, so a
// path is written decoded ("/café/", not "/caf%C3%A9/").
func ValidPath(p string) error {
	if p == "" || p[0] != '/' {
		return errors.New("must start with '/'")
	}
	if len(p) > 1024 {
		return errors.New("is longer than 1024 characters")
	}
	if !utf8.ValidString(p) {
		return errors.New("is not valid UTF-8")
	}
	for _, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c < utf8.RuneSelf && strings.ContainsRune("-._~/:@!*+,=&", c):
		case c >= utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c)):
		case c == '%':
			return errors.New("holds a '%' escape; nginx matches the decoded path, so write it decoded")
		default:
			return errors.New("may only hold letters, digits and -._~/:@!*+,=&")
		}
	}
	return nil
}

// ValidName checks a service or upstream name: what swarm allows for service
// names (letters, digits, '_', '.', '-', starting with a letter or digit).
func ValidName(n string) error {
	if n == "" || len(n) > 255 {
		return errors.New("must be 1 to 255 characters")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return errors.New("must start with a letter or digit")
		}
		if !alnum && c != '_' && c != '.' && c != '-' {
			return errors.New("may only hold letters, digits, '_', '.' and '-'")
		}
	}
	return nil
}

// ValidAddr checks a server address: an IP address or a DNS host name.
func ValidAddr(a string) error {
	if a == "" {
		return errors.New("is empty")
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:", c) >= 0) {
			return errors.New("is neither an IP address nor a host name")
		}
	}
	return nil
}

func parsePort(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, errors.New("is not a port number between 1 and 65535")
	}
	return uint32(n), nil
}
