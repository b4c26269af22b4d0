package ui_test

import (
	"testing"

	"github.com/coffer-secrets/coffer/internal/ui/uitest"
)

// browser is the one Chromium process the package's browser tests share,
// each test in its own tab and browser context.
var browser = uitest.NewBrowser()

func TestMain(m *testing.M) { uitest.Main(m, browser) }
