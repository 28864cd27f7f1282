// Package browsertest holds the browser test of the jwtrevoke demo page: it
// builds the jwtrevoke binary, starts `jwtrevoke demo`, and drives the page
// in headless Chromium with chromedp. It is a module of its own so that
// chromedp stays out of what users of jwtrevoke download.
//
//	cd cmd/jwtrevoke/browsertest && go test -race ./...
//
// JWTREVOKE_BIN names a jwtrevoke binary to use instead of building one.
// The test skips when no Chromium is installed (apt-get install -y
// chromium). Screenshots go to $JWTREVOKE_SCREENSHOTS, or to a temporary
// directory; the test logs the path.
package browsertest
