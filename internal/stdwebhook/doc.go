// Package stdwebhook signs and verifies webhooks as the Standard Webhooks
// specification says (https://www.standardwebhooks.com): the webhook-id,
// webhook-timestamp and webhook-signature headers, "whsec_" secrets and
// the signed content "<id>.<timestamp>.<body>". The reference library
// computes and compares the MACs; this package adds what both of Plumb's
// ends need around it: a strict secret parser, the clock the caller gives
// instead of the system's, and several keys at once, so that a receiver
// keeps accepting the old secret while it is rotated.
//
// package notify signs its webhooks with it and package intake verifies
// the deliveries it receives with it; neither writes the scheme twice.
package stdwebhook
