// Package ids makes run ids: 26-character, time-ordered, random ULIDs
// (Crockford base32), so that ids sort by creation time in every store and
// listing.
package ids
