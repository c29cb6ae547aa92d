package discovery

import (
	"errors"
	"strconv"
	"strings"
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
// need no quoting in nginx (RFC 3986 unreserved, '/', '%XX' escapes and a few
// sub-delimiters), with no nginx syntax (spaces, quotes, ';', '{', '}', '$', '#').
func ValidPath(p string) error {
	if p == "" || p[0] != '/' {
		return errors.New("must start with '/'")
	}
	if len(p) > 1024 {
		return errors.New("is longer than 1024 characters")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-._~/:@!*+,=&", c) >= 0:
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return errors.New("has a '%' that is not followed by two hex digits")
			}
			i += 2
		default:
			return errors.New("may only hold letters, digits, '%XX' escapes and -._~/:@!*+,=&")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
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
