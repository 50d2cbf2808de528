package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The key timeline: one SVG per algorithm, computed here and drawn by
// templates/console_keys.html. Coordinates are in viewBox units; the SVG
// scales to the page's width.

// Timeline geometry, in viewBox units.
const (
	tlWidth    = 720.0
	tlLeft     = 8.0
	tlRight    = 8.0
	tlTop      = 30.0 // room for the "now" and "next rotation" labels
	tlRowH     = 40.0
	tlBarH     = 14.0
	tlLabelGap = 5.0
	tlAxisH    = 26.0
)

// timeline is one algorithm's drawing.
type timeline struct {
	Alg           string
	Width, Height float64
	Bars          []timelineBar
	NowX          float64
	FutureW       float64
	HasNext       bool
	NextX         float64
	NextLabel     string
	// NextAnchor is the next-rotation label's text-anchor (kept inside).
	NextAnchor      string
	WindowX         float64
	WindowW         float64
	NextRotation    time.Time
	NextPublishedAt time.Time
	Ticks           []timelineTick
	AxisY           float64
	ChartTop        float64
	ChartH          float64
	Label           string // accessible description
}

// timelineBar is one key's row.
type timelineBar struct {
	KID, State string
	Revoked    bool
	Y, LabelY  float64
	Label      string
	Title      string
	Segments   []timelineSegment
	// Mark is the SVG path of the revocation's cross.
	Mark string
}

// timelineSegment is one state's stretch of a bar.
type timelineSegment struct {
	Class   string
	X, W, Y float64
	H       float64
}

// timelineTick is a labelled time on the axis.
type timelineTick struct {
	X     float64
	Label string
}

// buildTimeline lays out one algorithm's keys at now.
func buildTimeline(a AlgorithmKeys, now time.Time, prepublish time.Duration) timeline {
	tl := timeline{Alg: a.Alg, Width: tlWidth, NextRotation: a.NextRotation, NextPublishedAt: a.NextPublishedAt}
	// The time range: the first creation to the last verify_until, the
	// next rotation or now, with a margin.
	start, end := now, now
	widen := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if t.Before(start) {
			start = t
		}
		if t.After(end) {
			end = t
		}
	}
	for _, k := range a.Keys {
		widen(k.CreatedAt)
		widen(k.PublishedAt)
		widen(k.VerifyUntil)
		widen(k.RevokedAt)
	}
	if !a.NextRotation.IsZero() {
		widen(a.NextRotation)
		if prepublish > 0 {
			widen(a.NextRotation.Add(-prepublish))
		}
	}
	span := end.Sub(start)
	if span < time.Hour {
		span = time.Hour
	}
	pad := span / 20
	start, end = start.Add(-pad), end.Add(pad)
	span = end.Sub(start)
	plot := tlWidth - tlLeft - tlRight
	x := func(t time.Time) float64 {
		return round1(tlLeft + plot*float64(t.Sub(start))/float64(span))
	}
	// The horizon: where a bar still open (active, next) ends.
	horizon := now
	if a.NextRotation.After(horizon) {
		horizon = a.NextRotation
	}
	for i, k := range a.Keys {
		y := tlTop + float64(i)*tlRowH + 16
		b := timelineBar{KID: k.KID, State: k.State, Revoked: k.State == "revoked" || !k.RevokedAt.IsZero(), Y: y, LabelY: y - tlLabelGap}
		b.Label = k.KID + " · " + k.State
		b.Title = keyTitle(k)
		stop := k.RevokedAt // a revocation cuts the bar short
		seg := func(class string, from, to time.Time) {
			if from.IsZero() {
				return
			}
			if to.IsZero() || to.Before(from) {
				return
			}
			if !stop.IsZero() && to.After(stop) {
				to = stop
			}
			if !to.After(from) {
				return
			}
			x0, x1 := x(from), x(to)
			b.Segments = append(b.Segments, timelineSegment{Class: class, X: x0, W: round1(math.Max(x1-x0, 1.5)), Y: y, H: tlBarH})
		}
		published := k.PublishedAt
		if published.IsZero() {
			published = k.CreatedAt
		}
		activated, retired := k.ActivatedAt, k.RetiredAt
		// created → published: generated, not yet served.
		seg("seg-created", k.CreatedAt, published)
		// published → activated (or the horizon while still next).
		nextEnd := activated
		if nextEnd.IsZero() && retired.IsZero() {
			nextEnd = horizon
		}
		if nextEnd.IsZero() {
			nextEnd = retired
		}
		seg("seg-next", published, nextEnd)
		if !activated.IsZero() {
			activeEnd := retired
			if activeEnd.IsZero() {
				activeEnd = horizon
			}
			seg("seg-active", activated, activeEnd)
		}
		if !retired.IsZero() {
			seg("seg-retired", retired, k.VerifyUntil)
		}
		if !k.RevokedAt.IsZero() {
			mx, my := x(k.RevokedAt), y+tlBarH/2
			b.Mark = fmt.Sprintf("M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f", mx-6, my-6, mx+6, my+6, mx+6, my-6, mx-6, my+6)
			for i := range b.Segments {
				b.Segments[i].Class += " seg-revoked"
			}
		}
		tl.Bars = append(tl.Bars, b)
	}
	tl.ChartTop = tlTop - 18
	tl.AxisY = tlTop + float64(len(a.Keys))*tlRowH + 4
	tl.ChartH = tl.AxisY - tl.ChartTop
	tl.Height = tl.AxisY + tlAxisH
	tl.NowX = x(now)
	tl.FutureW = round1(tlWidth - tlRight - tl.NowX)
	if !a.NextRotation.IsZero() {
		tl.HasNext = true
		tl.NextX = x(a.NextRotation)
		tl.NextLabel = "next rotation " + a.NextRotation.UTC().Format("Jan 2 15:04")
		tl.NextAnchor = "middle"
		switch {
		case tl.NextX > tlWidth-110:
			tl.NextAnchor = "end"
		case tl.NextX < 110:
			tl.NextAnchor = "start"
		}
		if prepublish > 0 {
			w0 := x(a.NextRotation.Add(-prepublish))
			tl.WindowX, tl.WindowW = w0, round1(tl.NextX-w0)
		}
	}
	tl.Ticks = axisTicks(start, end, x)
	tl.Label = a.Alg + " key timeline: " + pluralKeys(len(a.Keys))
	return tl
}

// keyTitle is a bar's tooltip: kid, state, every time and the actor.
func keyTitle(k KeyView) string {
	var b strings.Builder
	b.WriteString(k.KID + " (" + k.Alg + ", " + k.State + ")")
	line := func(name string, t time.Time) {
		if !t.IsZero() {
			b.WriteString("\n" + name + ": " + t.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	line("created", k.CreatedAt)
	line("published", k.PublishedAt)
	line("active", k.ActivatedAt)
	line("retired", k.RetiredAt)
	line("verifiable until", k.VerifyUntil)
	line("revoked", k.RevokedAt)
	if k.RevokeReason != "" {
		b.WriteString("\nreason: " + k.RevokeReason)
	}
	if k.Actor != "" {
		b.WriteString("\nby: " + k.Actor)
	}
	return b.String()
}

// axisTicks picks about five round times between start and end.
func axisTicks(start, end time.Time, x func(time.Time) float64) []timelineTick {
	span := end.Sub(start)
	steps := []time.Duration{time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
		2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour, 365 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 6 {
			step = s
			break
		}
	}
	layout := "Jan 2"
	if step < 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	var out []timelineTick
	t := start.UTC().Truncate(step)
	for ; !t.After(end); t = t.Add(step) {
		if t.Before(start) {
			continue
		}
		tx := x(t)
		if tx < 30 || tx > tlWidth-30 {
			continue
		}
		out = append(out, timelineTick{X: tx, Label: t.Format(layout)})
	}
	return out
}

func pluralKeys(n int) string {
	if n == 1 {
		return "1 key"
	}
	return strconv.Itoa(n) + " keys"
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
