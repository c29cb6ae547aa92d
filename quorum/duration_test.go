package quorum

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"2000h":   2000 * time.Hour,
		"30m":     30 * time.Minute,
		"7d":      7 * 24 * time.Hour,
		"1.5h":    90 * time.Minute,
		"1w2d":    9 * 24 * time.Hour,
		"90s":     90 * time.Second,
		"250ms":   250 * time.Millisecond,
		" 4h ":    4 * time.Hour,
		"1d12h":   36 * time.Hour,
		"0.5d":    12 * time.Hour,
		"0h":      0,
		"100000h": 100000 * time.Hour,
	}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := []string{"", " ", "2000", "h", "-4h", "4 h", "4x", "4H", "1e5h", "..5h", "4h-", "3.2.1h", "99999999w", "4hh"}
	for _, in := range bad {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
	if _, err := ParseDuration("2000"); err == nil || !strings.Contains(err.Error(), "2000h") {
		t.Errorf("a unit-less number should suggest a unit: %v", err)
	}
}

func TestFromMTBF(t *testing.T) {
	// P = MTTR / (MTBF + MTTR): 4h / 2004h = 1/501 = 0.001996007984...
	p, err := FromMTBF(2000*time.Hour, 4*time.Hour)
	if err != nil || math.Abs(p-1.0/501) > 1e-15 {
		t.Errorf("FromMTBF(2000h, 4h) = %v, %v; want 1/501", p, err)
	}
	// 30m down every 7d: 0.5h / 168.5h = 0.00296735905...
	p, err = FromMTBF(7*24*time.Hour, 30*time.Minute)
	if err != nil || math.Abs(p-0.5/168.5) > 1e-15 {
		t.Errorf("FromMTBF(7d, 30m) = %v, %v; want 0.5/168.5", p, err)
	}
	for _, c := range [][2]time.Duration{{0, time.Hour}, {time.Hour, 0}, {-time.Hour, time.Hour}} {
		if _, err := FromMTBF(c[0], c[1]); err == nil {
			t.Errorf("FromMTBF(%v, %v) accepted a non-positive figure", c[0], c[1])
		}
	}
}
