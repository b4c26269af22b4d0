// Package uitest drives Coffer's web UI in headless Chromium for tests:
// a real server (internal/testserver, with ui = true) and a real browser
// through the DevTools protocol (github.com/chromedp/chromedp).
//
// A test package shares one browser process among its tests, each test
// getting its own tab in its own browser context (fresh storage):
//
//	var browser = uitest.NewBrowser()
//
//	func TestMain(m *testing.M) { uitest.Main(m, browser) }
//
//	func TestX(t *testing.T) {
//		s := browser.Start(t, uitest.Options{})  // signed in with a root-policy token
//		s.Go("secrets")
//		s.WaitVisible("h1")
//		s.Screenshot("secrets")
//	}
//
// A session fails its test when the page logs a console error, throws an
// uncaught exception, violates its Content-Security-Policy, or a request
// fails (network error, a 5xx, or any 4xx for the UI's own files). API
// refusals (4xx under /v1/) are allowed: the UI shows them. Screenshots
// go to $COFFER_UI_SCREENSHOTS when set, else to the test's temporary
// directory; when the test fails, a last screenshot is kept in
// os.TempDir() and its path logged.
//
// Chromium is found as $COFFER_CHROMIUM, chromium, chromium-browser or
// google-chrome on PATH. Without one a test skips, or fails when CI=true.
// The package is for tests only (it imports testing).
package uitest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// Timeout bounds each browser step (a wait, a click); generous, since the
// machine running the tests may be loaded. A step that runs out fails its
// test with a screenshot.
const Timeout = 30 * time.Second

// Browser is one headless Chromium process, started on first use and
// shared by the tests of a package. Its methods are safe for concurrent
// use.
type Browser struct {
	once   sync.Once
	ctx    context.Context // the browser's first tab; parent of every session
	cancel context.CancelFunc
	err    error // why the browser could not start; set by once
}

// NewBrowser returns a Browser that starts Chromium when a test first
// needs it.
func NewBrowser() *Browser {
	return &Browser{}
}

// Main runs the package's tests (m.Run), closes b and exits with the
// tests' code. Call it from TestMain.
func Main(m *testing.M, b *Browser) {
	code := m.Run()
	b.Close()
	os.Exit(code)
}

// Close stops the browser process, if it started.
func (b *Browser) Close() {
	if b.cancel != nil {
		b.cancel()
	}
}

// chromiumPath finds the browser executable.
func chromiumPath() (string, error) {
	if p := os.Getenv("COFFER_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (Debian: apt-get install chromium; or set COFFER_CHROMIUM)")
}

func (b *Browser) start() {
	path, err := chromiumPath()
	if err != nil {
		b.err = err
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI; the page is our own
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	// The first Run starts the process; it must not have a deadline.
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		b.err = fmt.Errorf("start %s: %w", path, err)
		return
	}
	b.ctx = ctx
	b.cancel = func() { cancelCtx(); cancelAlloc() }
}

// need starts the browser or ends the test: a skip on a developer's
// machine without Chromium, a failure under CI=true.
func (b *Browser) need(t testing.TB) {
	t.Helper()
	b.once.Do(b.start)
	if b.err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests need Chromium: %v", b.err)
	}
	t.Skipf("browser tests need Chromium: %v", b.err)
}

// Options changes how [Browser.Start] sets up a session.
type Options struct {
	// Server, when set, is used instead of a new test server; it must
	// have been started with ui = true in its ExtraConfig.
	Server *testserver.Server
	// ExtraConfig is added to a new test server's configuration.
	ExtraConfig string
	// NoSignIn leaves the browser on the sign-in page.
	NoSignIn bool
	// Token signs in with this token instead of a new one with the root
	// policy.
	Token string
}

// Session is one test's browser tab on one server.
type Session struct {
	// T is the test the session belongs to.
	T testing.TB
	// Server is the Coffer server the page talks to.
	Server *testserver.Server
	// Client is an API client with the server's root token, for setting
	// things up and checking results behind the UI's back.
	Client *api.Client
	// Token is the token the session signed in with ("" with NoSignIn).
	Token string

	ctx     context.Context
	dir     string // where screenshots go
	mu      sync.Mutex
	urls    map[network.RequestID]string // request URLs by ID, for failures; guarded by mu
	probs   []string                     // guarded by mu
	allowed []*regexp.Regexp             // guarded by mu
}

// Start opens a tab on a test server (a new one unless opts.Server),
// signed in unless opts.NoSignIn. Everything is closed when the test ends,
// after the end-of-test checks.
func (b *Browser) Start(t testing.TB, opts Options) *Session {
	t.Helper()
	b.need(t)
	srv := opts.Server
	if srv == nil {
		srv = testserver.StartWith(t, testserver.Options{ExtraConfig: "ui = true\n" + opts.ExtraConfig})
	}
	tab, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	s := &Session{T: t, Server: srv, Client: srv.Client, ctx: tab, urls: map[network.RequestID]string{}}
	s.dir = os.Getenv("COFFER_UI_SCREENSHOTS")
	if s.dir == "" {
		s.dir = t.TempDir()
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Listen(tab, s.event); err != nil {
		cancel()
		t.Fatalf("open a browser tab: %v", err)
	}
	t.Cleanup(func() {
		s.finish()
		cancel()
	})
	s.do("open the UI", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.Addr+"/ui/"))
	s.WaitVisible("#main")
	if opts.NoSignIn {
		return s
	}
	tok := opts.Token
	if tok == "" {
		sec, err := srv.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}, DisplayName: "ui-test"})
		if err != nil {
			t.Fatalf("create a token: %v", err)
		}
		tok = sec.Auth.ClientToken
	}
	s.SignInToken(tok)
	return s
}

// event records what should fail the test. It runs on chromedp's event
// goroutine: it only takes the lock.
func (s *Session) event(ev any) {
	var prob string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range e.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			prob = "console." + string(e.Type) + ": " + strings.Join(parts, " ")
		}
	case *runtime.EventExceptionThrown:
		msg := e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			msg += " " + e.ExceptionDetails.Exception.Description
		}
		prob = "uncaught exception: " + msg
	case *log.EventEntryAdded:
		// Network failures come as network events, with their status.
		if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
			prob = fmt.Sprintf("browser log (%s): %s", e.Entry.Source, e.Entry.Text)
		}
	case *network.EventRequestWillBeSent:
		s.mu.Lock()
		s.urls[e.RequestID] = e.Request.URL
		s.mu.Unlock()
	case *network.EventLoadingFailed:
		if !e.Canceled {
			s.mu.Lock()
			u := s.urls[e.RequestID]
			s.mu.Unlock()
			prob = fmt.Sprintf("request failed: %s: %s %s", u, e.ErrorText, e.BlockedReason)
		}
	case *network.EventResponseReceived:
		st := e.Response.Status
		own := false
		if u, err := url.Parse(e.Response.URL); err == nil {
			own = strings.HasPrefix(u.Path, "/ui/")
		}
		if st >= 500 || (st >= 400 && own) {
			prob = fmt.Sprintf("request failed: %s: HTTP %d", e.Response.URL, st)
		}
	}
	if prob == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, re := range s.allowed {
		if re.MatchString(prob) {
			return
		}
	}
	s.probs = append(s.probs, prob)
}

// Allow lets problems matching the regular expression pass the
// end-of-test check (for a test that provokes one on purpose).
func (s *Session) Allow(expr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowed = append(s.allowed, regexp.MustCompile(expr))
}

// finish fails the test on recorded problems and keeps a screenshot of a
// failed test.
func (s *Session) finish() {
	s.mu.Lock()
	probs := s.probs
	s.mu.Unlock()
	for _, p := range probs {
		s.T.Errorf("browser: %s", p)
	}
	if !s.T.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, Timeout)
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	cancel()
	if err == nil {
		s.T.Logf("the page said:\n%s", text)
	}
	buf, err := s.capture()
	if err != nil {
		s.T.Logf("no screenshot of the failure: %v", err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(s.T.Name())
	p := filepath.Join(os.TempDir(), fmt.Sprintf("coffer-ui-%s-%d.png", name, time.Now().UnixNano()))
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		s.T.Logf("no screenshot of the failure: %v", err)
		return
	}
	s.T.Logf("screenshot of the failure kept at %s", p)
}

func (s *Session) capture() ([]byte, error) {
	ctx, cancel := context.WithTimeout(s.ctx, Timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.CaptureScreenshot())
}

// do runs steps with the step timeout, failing the test (with what was
// being done) on error.
func (s *Session) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		s.T.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression in the page and returns its
// result decoded from JSON into T (promises are awaited).
func Eval[T any](s *Session, expr string) T {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		s.T.Fatalf("evaluate %q: %v", expr, err)
	}
	return v
}

// sel is a selector: XPath when it starts with "/" or "(", else CSS.
func sel(q string) chromedp.Search {
	return chromedp.Search(q)
}

// Button is the XPath selector of a button whose text, or aria-label,
// is text.
func Button(text string) string {
	q := xpathString(text)
	return fmt.Sprintf(`//button[normalize-space(.)=%s or @aria-label=%s]`, q, q)
}

// Link is the XPath selector of a link whose text, or aria-label, is
// text.
func Link(text string) string {
	q := xpathString(text)
	return fmt.Sprintf(`//a[normalize-space(.)=%s or @aria-label=%s]`, q, q)
}

// DialogButton is the XPath selector of a button of the open dialog
// (ctx.confirm's) whose text is text.
func DialogButton(text string) string {
	return fmt.Sprintf(`//dialog[@open]//button[normalize-space(.)=%s]`, xpathString(text))
}

// Text is the XPath selector of an element of the given tag (or any, for
// "*") whose whole text is text.
func Text(tag, text string) string {
	return fmt.Sprintf(`//%s[normalize-space(.)=%s]`, tag, xpathString(text))
}

// Field is the XPath selector of the form control labelled label.
func Field(label string) string {
	q := xpathString(label)
	return fmt.Sprintf(`//*[(self::input or self::select or self::textarea) and (@id=//label[normalize-space(.)=%s]/@for or @aria-label=%s)]`, q, q)
}

// xpathString quotes s as an XPath string literal: in double quotes,
// else single quotes, else (both kinds inside) a concat of pieces.
func xpathString(s string) string {
	if !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	parts := strings.Split(s, `"`)
	args := make([]string, 0, 2*len(parts))
	for i, p := range parts {
		if i > 0 {
			args = append(args, `'"'`)
		}
		args = append(args, `"`+p+`"`)
	}
	return "concat(" + strings.Join(args, ", ") + ")"
}

// Go shows a route of the UI (#/route), as a click on a link would; the
// page is drawn again when it is the route already shown.
func (s *Session) Go(route string) {
	s.T.Helper()
	Eval[bool](s, fmt.Sprintf(`(() => {
  const target = %q;
  if (location.hash === target) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = target;
  return true;
})()`, "#/"+strings.TrimPrefix(route, "#/")))
}

// WaitVisible waits until the selector matches a visible element.
func (s *Session) WaitVisible(q string) {
	s.T.Helper()
	s.do("wait for "+q, chromedp.WaitVisible(sel(q)))
}

// WaitGone waits until nothing matches the selector.
func (s *Session) WaitGone(q string) {
	s.T.Helper()
	s.do("wait for "+q+" to go", chromedp.WaitNotPresent(sel(q)))
}

// Click clicks the element the selector matches, once it is visible.
func (s *Session) Click(q string) {
	s.T.Helper()
	s.do("click "+q, chromedp.Click(sel(q), chromedp.NodeVisible))
}

// Type replaces the value of the matched input with v (typed key by key).
func (s *Session) Type(q, v string) {
	s.T.Helper()
	s.do("type into "+q, chromedp.Clear(sel(q), chromedp.NodeVisible), chromedp.SendKeys(sel(q), v, chromedp.NodeVisible))
}

// Select chooses the option with value v in the matched select, as a
// user would (firing its change event).
func (s *Session) Select(q, v string) {
	s.T.Helper()
	s.WaitVisible(q)
	ok := Eval[bool](s, fmt.Sprintf(`(() => {
  const el = %s;
  if (!el || !Array.from(el.options).some((o) => o.value === %q)) return false;
  el.focus();
  el.value = %q;
  el.dispatchEvent(new Event("change", {bubbles: true}));
  return true;
})()`, jsFind(q), v, v))
	if !ok {
		s.T.Fatalf("select %q in %s: no such option", v, q)
	}
}

// jsFind is a JavaScript expression for the first element q matches.
func jsFind(q string) string {
	if strings.HasPrefix(q, "/") || strings.HasPrefix(q, "(") {
		return fmt.Sprintf("document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue", q)
	}
	return fmt.Sprintf("document.querySelector(%q)", q)
}

// TextOf returns the visible text of the matched element.
func (s *Session) TextOf(q string) string {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(sel(q), chromedp.NodeVisible))
	if err != nil {
		s.T.Fatalf("text of %s: %v", q, err)
	}
	return v
}

// Count returns how many elements the CSS selector matches now.
func (s *Session) Count(css string) int {
	s.T.Helper()
	return Eval[int](s, fmt.Sprintf("document.querySelectorAll(%q).length", css))
}

// BodyText returns the page's whole visible text.
func (s *Session) BodyText() string {
	s.T.Helper()
	return Eval[string](s, "document.body.innerText")
}

// Press sends keys to the focused element (kb constants such as kb.Tab,
// kb.Enter, or plain text).
func (s *Session) Press(keys string) {
	s.T.Helper()
	s.do("press keys", chromedp.KeyEvent(keys))
}

// Focused describes the focused element as its tag and its accessible
// label (aria-label, else its label's text, else its own text), such as
// `input "Token"` or `button "Sign in"`.
func (s *Session) Focused() string {
	s.T.Helper()
	return Eval[string](s, `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "body";
  const lbl = el.getAttribute("aria-label") || (el.labels && el.labels[0] ? el.labels[0].textContent : "") || el.textContent || "";
  return el.tagName.toLowerCase() + ' "' + lbl.replace(/\s+/g, " ").trim() + '"';
})()`)
}

// TabTo presses Tab (at most max times) until the focused element's
// label is label (with its tag, as [Session.Focused] says it, when label
// has a space and a quote: `input "Token"`), failing the test if it
// never is. It proves the element is reachable by keyboard.
func (s *Session) TabTo(label string, max int) {
	s.T.Helper()
	var seen []string
	for range max {
		s.Press(kb.Tab)
		f := s.Focused()
		if strings.HasSuffix(f, ` "`+label+`"`) || f == label {
			return
		}
		seen = append(seen, f)
	}
	s.T.Fatalf("%q not reached with %d Tab presses; focus went through %s", label, max, strings.Join(seen, ", "))
}

// SignInToken signs in through the sign-in form with a token and waits
// for the signed-in layout.
func (s *Session) SignInToken(token string) {
	s.T.Helper()
	s.Go("login")
	s.WaitVisible(Field("Method"))
	s.Select(Field("Method"), "token")
	s.Type(Field("Token"), token)
	s.Click(Button("Sign in"))
	s.WaitVisible("#sign-out")
	s.Token = token
}

// Clipboard lets the page use the clipboard (as a user's click would)
// and returns a function that reads what it holds.
func (s *Session) Clipboard() func() string {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, Timeout)
	defer cancel()
	id := chromedp.FromContext(s.ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission:       &browser.PermissionDescriptor{Name: name},
			Setting:          browser.PermissionSettingGranted,
			Origin:           s.Server.Addr,
			BrowserContextID: id,
		})
		if err != nil {
			s.T.Fatalf("grant %s: %v", name, err)
		}
	}
	return func() string {
		s.T.Helper()
		return Eval[string](s, "navigator.clipboard.readText()")
	}
}

// Screenshot saves a PNG of the viewport as <name>.png in the screenshot
// directory and returns its path.
func (s *Session) Screenshot(name string) string {
	s.T.Helper()
	buf, err := s.capture()
	if err != nil {
		s.T.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(s.dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		s.T.Fatal(err)
	}
	return p
}

// contrastJS lists visible text whose contrast with its background is
// under WCAG AA: 4.5:1, or 3:1 for large text (24px, or 18.66px bold).
// The background is the first opaque one among the element and its
// ancestors. Disabled controls are exempt, as WCAG allows.
const contrastJS = `(() => {
  const parse = (c) => { const m = c.match(/[\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] >= 0.99) return c;
    }
    return parse(getComputedStyle(document.documentElement).backgroundColor || "rgb(255,255,255)");
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const t = walker.currentNode;
    const el = t.parentElement;
    if (!t.textContent.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    if (el.closest("[disabled], .skip, .sr-only, noscript, option")) continue;
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || st.visibility === "hidden" || Number(st.opacity) === 0) continue;
    const fg = parse(st.color);
    const L1 = lum(fg), L2 = lum(bg(el));
    const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName.toLowerCase() + " " + JSON.stringify(t.textContent.trim().slice(0, 40)) + " " + ratio.toFixed(2) + ":1");
  }
  return bad;
})()`

// CheckContrast fails the test for visible text on the page whose
// contrast with its background is under WCAG AA.
func (s *Session) CheckContrast() {
	s.T.Helper()
	for _, b := range Eval[[]string](s, contrastJS) {
		s.T.Errorf("contrast under WCAG AA: %s", b)
	}
}

// controlRoles are the accessibility roles of form controls and buttons:
// each needs an accessible name.
var controlRoles = map[string]bool{
	"button": true, "textbox": true, "combobox": true, "checkbox": true, "radio": true,
	"listbox": true, "searchbox": true, "spinbutton": true, "switch": true, "slider": true,
	"menuitem": true, "tab": true, "link": true,
}

// CheckLabels fails the test for every control on the page (input,
// select, textarea, button, link) that has no accessible name, as the
// browser's own accessibility tree computes it.
func (s *Session) CheckLabels() {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, Timeout)
	defer cancel()
	res, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		s.T.Fatalf("accessibility tree: %v", err)
	}
	n := 0
	for _, node := range res.Nodes {
		if node.Ignored || node.Role == nil {
			continue
		}
		role := strings.Trim(string(node.Role.Value), `"`)
		if !controlRoles[role] {
			continue
		}
		n++
		name := ""
		if node.Name != nil {
			name = strings.Trim(string(node.Name.Value), `" `)
		}
		if name == "" {
			s.T.Errorf("a %s has no accessible name (label)", role)
		}
	}
	if n == 0 {
		s.T.Errorf("CheckLabels found no controls: the page is not drawn yet")
	}
}
