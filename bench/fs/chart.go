package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
)

// glyphs is a 5×7 bitmap font for the chart's labels (upper case, digits
// and a little punctuation): Go's image packages have no fonts, and these
// few labels do not earn a dependency.
var glyphs = map[rune][7]string{
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'B': {"####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F': {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'G': {".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"},
	'H': {"#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'J': {"..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."},
	'K': {"#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"},
	'L': {"#....", "#....", "#....", "#....", "#....", "#....", "#####"},
	'M': {"#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"},
	'N': {"#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'Q': {".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'S': {".####", "#....", "#....", ".###.", "....#", "....#", "####."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'V': {"#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'W': {"#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."},
	'X': {"#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
	'Z': {"#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"},
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"####.", "....#", "....#", ".###.", "....#", "....#", "####."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	',': {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},
	'-': {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	'/': {"....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
	'%': {"##..#", "##..#", "...#.", "..#..", ".#...", "#..##", "#..##"},
	'=': {".....", ".....", "#####", ".....", "#####", ".....", "....."},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
}

// canvas is an RGBA image with the few drawing primitives the chart needs.
type canvas struct{ *image.RGBA }

func (c canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			c.Set(x, y, col)
		}
	}
}

const fontScale = 2

// textWidth is the width in pixels of s drawn by text.
func textWidth(s string) int { return len([]rune(s)) * 6 * fontScale }

// text draws s (upper-cased; unknown runes as blanks) with its top-left at x, y.
func (c canvas) text(x, y int, s string, col color.Color) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		if !ok {
			g = glyphs[' ']
		}
		for gy, row := range g {
			for gx, bit := range row {
				if bit == '#' {
					c.rect(x+gx*fontScale, y+gy*fontScale, x+(gx+1)*fontScale, y+(gy+1)*fontScale, col)
				}
			}
		}
		x += 6 * fontScale
	}
}

var targetColors = map[string]color.RGBA{
	"tmp":                    {0x88, 0x88, 0x88, 0xff},
	"zerofs-local":           {0x1f, 0x77, 0xb4, 0xff},
	"zerofs-s3":              {0x2c, 0xa0, 0x2c, 0xff},
	"zerofs-s3-strict":       {0x98, 0xdf, 0x8a, 0xff},
	"zerofs-s3-local":        {0x17, 0xbe, 0xcf, 0xff},
	"zerofs-s3-local-commit": {0x9e, 0xda, 0xe5, 0xff},
	"zerofs-s3-local-enc":    {0x8c, 0x56, 0x4b, 0xff},
	"zerofs-local-strict":    {0xae, 0xc7, 0xe8, 0xff},
	"go-nfs":                 {0x94, 0x67, 0xbd, 0xff},
	"s3fs":                   {0xd6, 0x27, 0x28, 0xff},
	"rclone":                 {0xff, 0x7f, 0x0e, 0xff},
}

func shortDuration(sec float64) string {
	switch {
	case sec >= 10:
		return fmt.Sprintf("%.0fS", sec)
	case sec >= 1:
		return fmt.Sprintf("%.1fS", sec)
	default:
		return fmt.Sprintf("%.0fMS", sec*1000)
	}
}

// writeChart draws one group of horizontal bars per workload, one bar per
// target, whose length is the time on a log scale (shorter is better): the
// median over the rounds, with a line from the fastest to the slowest
// round when there are several.
func writeChart(path string, r Report) error {
	ts := r.targets()
	const (
		left, right, top = 300, 110, 110
		barH, barGap     = 16, 3
		groupGap         = 14
		width            = 1400
	)
	groupH := len(ts)*(barH+barGap) + groupGap
	height := top + len(r.workloads())*groupH + 40
	c := canvas{image.NewRGBA(image.Rect(0, 0, width, height))}
	white := color.RGBA{0xff, 0xff, 0xff, 0xff}
	black := color.RGBA{0x10, 0x10, 0x10, 0xff}
	grid := color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	red := color.RGBA{0xc0, 0x00, 0x00, 0xff}
	c.rect(0, 0, width, height, white)

	// The scale spans every round's time, so that the whiskers (the
	// fastest and slowest round, over several) fit.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range r.Results {
		if x.OK && x.Elapsed > 0 {
			s := math.Log10(x.Elapsed.Seconds())
			lo, hi = math.Min(lo, s), math.Max(hi, s)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = -3, 0
	}
	lo, hi = math.Floor(lo), math.Ceil(hi)
	if hi <= lo {
		hi = lo + 1
	}
	plotW := width - left - right
	xOf := func(sec float64) int {
		return left + int(float64(plotW)*(math.Log10(sec)-lo)/(hi-lo))
	}

	title := "TIME PER WORKLOAD, LOG SCALE (SHORTER IS BETTER)"
	if n := r.rounds(); n > 1 {
		title += fmt.Sprintf(" - MEDIAN OF %d ROUNDS, LINE: FASTEST TO SLOWEST", n)
	}
	if r.Options.Quick {
		title += " - QUICK RUN"
	}
	c.text(20, 14, title, black)
	lx := 20
	for _, t := range ts {
		c.rect(lx, 46, lx+18, 64, targetColors[t])
		c.text(lx+24, 48, t, black)
		lx += 24 + textWidth(t) + 30
	}
	for d := lo; d <= hi; d++ {
		x := xOf(math.Pow(10, d))
		c.rect(x, top-10, x+1, height-30, grid)
		label := shortDuration(math.Pow(10, d))
		c.text(x-textWidth(label)/2, top-34, label, black)
	}
	for i, w := range r.workloads() {
		y0 := top + i*groupH
		c.text(20, y0+(len(ts)*(barH+barGap))/2-7, w, black)
		for j, t := range ts {
			y := y0 + j*(barH+barGap)
			s, ok := r.summary(t, w)
			switch {
			case !ok:
			case !s.Result.OK:
				c.text(left+4, y+1, "FAILED", red)
			default:
				// The bar is the median; over several rounds a whisker
				// spans the fastest to the slowest round.
				end := max(xOf(s.Result.Elapsed.Seconds()), left+2)
				c.rect(left, y, end, y+barH, targetColors[t])
				labelX := end
				if s.Succeeded > 1 {
					x0, x1 := max(xOf(s.Min.Seconds()), left), max(xOf(s.Max.Seconds()), left+2)
					c.rect(x0, y+barH/2-1, x1, y+barH/2+1, black)
					c.rect(x0, y+2, x0+1, y+barH-2, black)
					c.rect(x1-1, y+2, x1, y+barH-2, black)
					labelX = max(labelX, x1)
				}
				c.text(labelX+6, y+1, shortDuration(s.Result.Elapsed.Seconds()), black)
			}
		}
		c.rect(left, y0-groupGap/2, width-right, y0-groupGap/2+1, grid)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c); err != nil {
		f.Close()
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return f.Close()
}
