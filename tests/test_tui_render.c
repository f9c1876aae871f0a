// The pure drawing pieces of the terminal interface: canvas text, the
// image previews, the chart, and the splitting of typed commands.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tui/args.h"
#include "../tui/canvas.h"
#include "../tui/chart.h"
#include "../tui/preview.h"
#include "check.h"

static Cell at(const Canvas *c, int y, int x) { return c->cells[y * c->w + x]; }

static void test_canvas(void) {
    Canvas c = {0};
    CHECK(canvas_resize(&c, 10, 3) == 0, "resize");
    char row[256];
    CHECK(canvas_text(&c, 0, 0, -1, 0, "hello") == 5, "5 columns");
    canvas_row(&c, 0, row, sizeof row);
    CHECK(!strcmp(row, "hello"), "row 0 is '%s'", row);
    // Too long for the width: cut with '~' in the last column.
    canvas_text(&c, 1, 2, -1, 0, "abcdefghijkl");
    canvas_row(&c, 1, row, sizeof row);
    CHECK(!strcmp(row, "  abcdefg~"), "row 1 is '%s'", row);
    // UTF-8 goes in as code points, one column each; control characters
    // can't reach the terminal.
    canvas_text(&c, 2, 0, 4, 0, "\xc3\xa9\xe2\x94\x80\n");
    CHECK(at(&c, 2, 0).ch == 0xE9 && at(&c, 2, 1).ch == CH_HLINE && at(&c, 2, 2).ch == '?',
          "decoded %x %x %x", at(&c, 2, 0).ch, at(&c, 2, 1).ch, at(&c, 2, 2).ch);
    canvas_row(&c, 2, row, sizeof row);
    CHECK(!strcmp(row, "\xc3\xa9\xe2\x94\x80?"), "row 2 round trip");
    // Writing outside is ignored, not a crash.
    canvas_put(&c, -1, 0, 'x', 0, -1, -1);
    canvas_put(&c, 0, 10, 'x', 0, -1, -1);
    canvas_text(&c, 5, 0, -1, 0, "x");
    CHECK(canvas_contains(&c, "hello") && !canvas_contains(&c, "x"), "contains");
    canvas_bar(&c, 0, 0, 10, 0.3, COL_GREEN);
    CHECK(at(&c, 0, 2).ch == CH_FULL && at(&c, 0, 3).ch == CH_LIGHT && at(&c, 0, 0).fg == COL_GREEN,
          "a bar 30%% full fills 3 of 10 cells");
    canvas_free(&c);
}

// A w x h image of grey v with a centred square of grey s.
static Image square(int w, int h, int v, int s) {
    Image img = {w, h, malloc((size_t)w * h * 3)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int in = x >= w / 4 && x < w - w / 4 && y >= h / 4 && y < h - h / 4;
            memset(img.rgb + ((size_t)y * w + x) * 3, in ? s : v, 3);
        }
    return img;
}

static void test_preview(void) {
    int cols, rows;
    // Cells are twice as tall as wide: a square image takes half as many rows as columns.
    preview_fit(105, 105, 48, 40, &cols, &rows);
    CHECK(cols == 48 && rows == 24, "105x105 in 48x40: %dx%d", cols, rows);
    preview_fit(105, 105, 48, 20, &cols, &rows);
    CHECK(cols == 40 && rows == 20, "105x105 in 48x20: %dx%d", cols, rows);
    preview_fit(300, 30, 20, 20, &cols, &rows);
    CHECK(cols == 20 && rows == 1, "a wide strip keeps one row: %dx%d", cols, rows);

    Canvas c = {0};
    canvas_resize(&c, 20, 10);
    // Black ink on white paper: ink is dense, paper blank.
    Image img = square(64, 64, 255, 0);
    CHECK(preview_draw(&c, 0, 0, 20, 10, &img, PREVIEW_ASCII) == 0, "draw");
    CHECK(at(&c, 5, 10).ch == '@' && at(&c, 0, 0).ch == ' ',
          "ink on paper: centre '%c' corner '%c'", at(&c, 5, 10).ch, at(&c, 0, 0).ch);
    image_free(&img);
    // A bright shape on a dark background: the bright part is the ink.
    canvas_clear(&c);
    img = square(64, 64, 0, 255);
    preview_draw(&c, 0, 0, 20, 10, &img, PREVIEW_ASCII);
    CHECK(at(&c, 5, 10).ch == '@' && at(&c, 0, 0).ch == ' ',
          "light on dark: centre '%c' corner '%c'", at(&c, 5, 10).ch, at(&c, 0, 0).ch);
    image_free(&img);
    // Half blocks: the top pixel is the foreground, the bottom one the background.
    canvas_clear(&c);
    img = (Image){1, 2, malloc(6)};
    memcpy(img.rgb, "\0\0\0\xff\xff\xff", 6);
    preview_draw(&c, 0, 0, 1, 1, &img, PREVIEW_BLOCKS);
    CHECK(at(&c, 0, 0).ch == CH_UPPER && at(&c, 0, 0).fg == 16 && at(&c, 0, 0).bg == 231,
          "black over white: fg %d bg %d", at(&c, 0, 0).fg, at(&c, 0, 0).bg);
    image_free(&img);
    canvas_free(&c);

    CHECK(preview_xterm_color(255, 0, 0) == 196, "red is %d", preview_xterm_color(255, 0, 0));
    CHECK(preview_xterm_color(128, 128, 128) == 244, "grey 128 is %d",
          preview_xterm_color(128, 128, 128));
    CHECK(preview_xterm_color(0, 0, 0) == 16 && preview_xterm_color(255, 255, 255) == 231,
          "black, white");
}

static void test_chart(void) {
    Canvas c = {0};
    canvas_resize(&c, 40, 10);
    double y[4] = {1.0, 0.5, NAN, 0.25};
    ChartSeries s = {y, 4, '*', -1};
    chart_draw(&c, 0, 0, 10, 40, 4, &s, 1, 2);
    // Plot area: 9 rows (the last holds the x labels), columns 9..39.
    CHECK(at(&c, 0, 9).ch == '*', "the largest value at the top left");
    CHECK(at(&c, 8, 39).ch == '*', "the smallest at the bottom right");
    CHECK(at(&c, 5, 19).ch == '*' && (at(&c, 5, 19).attr & CA_REVERSE),
          "x=2 highlighted at its row");
    int marks = 0;
    for (int i = 0; i < c.w * c.h; i++) marks += c.cells[i].ch == '*';
    CHECK(marks == 3, "the missing value is left out (%d marks)", marks);
    char row[256];
    canvas_row(&c, 0, row, sizeof row);
    CHECK(strstr(row, "1") != NULL, "the top label shows the maximum: '%s'", row);
    canvas_row(&c, 9, row, sizeof row);
    CHECK(strstr(row, "1") && strstr(row, "4"), "x labels 1 and 4: '%s'", row);
    // A flat series and a single point draw without dividing by zero.
    canvas_clear(&c);
    double flat[3] = {0.5, 0.5, 0.5};
    s = (ChartSeries){flat, 3, 'o', -1};
    chart_draw(&c, 0, 0, 10, 40, 3, &s, 1, 0);
    CHECK(canvas_contains(&c, "o"), "flat series drawn");
    canvas_free(&c);
}

static void test_args(void) {
    int argc;
    char **argv;
    CHECK(args_split("train --dataset 'my data' \"a \\\"b\\\"\" c\\ d  ", &argc, &argv) == 0,
          "split");
    CHECK(argc == 5, "5 words, got %d", argc);
    if (argc == 5) {
        CHECK(!strcmp(argv[0], "train") && !strcmp(argv[1], "--dataset"), "plain words");
        CHECK(!strcmp(argv[2], "my data"), "single quotes: '%s'", argv[2]);
        CHECK(!strcmp(argv[3], "a \"b\""), "double quotes with escapes: '%s'", argv[3]);
        CHECK(!strcmp(argv[4], "c d"), "backslash-space: '%s'", argv[4]);
        CHECK(argv[5] == NULL, "NULL-terminated");
    }
    args_free(argc, argv);
    CHECK(args_split("   ", &argc, &argv) == 0 && argc == 0, "blank line: no words");
    args_free(argc, argv);
    CHECK(args_split("model 'unclosed", &argc, &argv) == -1, "an unclosed quote is an error");
    // ~ is the home folder, at the start of a word and not in quotes.
    setenv("HOME", "/home/someone", 1);
    CHECK(args_split("model ~/m.h5 '~/q' a~b ~", &argc, &argv) == 0 && argc == 5, "tilde words");
    if (argc == 5) {
        CHECK(!strcmp(argv[1], "/home/someone/m.h5"), "~/m.h5 -> '%s'", argv[1]);
        CHECK(!strcmp(argv[2], "~/q") && !strcmp(argv[3], "a~b"), "quoted or inner ~ stays");
        CHECK(!strcmp(argv[4], "/home/someone"), "~ alone -> '%s'", argv[4]);
    }
    args_free(argc, argv);
}

// A path typed at an image prompt: one shell word, blanks kept.
static void test_args_path(void) {
    static const char *const cases[][2] = {
        {"'/tmp/with space.png'", "/tmp/with space.png"},     // pasted by a file manager
        {"/tmp/with\\ space.png", "/tmp/with space.png"},   // escaped
        {"/tmp/with space.png", "/tmp/with space.png"},       // typed: blanks are the name's
        {"\"/tmp/it's.png\"", "/tmp/it's.png"},
        {"~/a.png", "/home/someone/a.png"},
        {"file:///tmp/with%20space.png", "/tmp/with space.png"},
        {"file://localhost/tmp/x%2fy.png", "/tmp/x/y.png"},
        {"/tmp/it's.png", "/tmp/it's.png"},                   // an unclosed quote: as typed
    };
    setenv("HOME", "/home/someone", 1);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *p = args_path(cases[i][0]);
        CHECK(p && !strcmp(p, cases[i][1]), "args_path(%s) = '%s', expected '%s'", cases[i][0],
              p ? p : "(null)", cases[i][1]);
        free(p);
    }
    // A name that exists as typed is taken as typed, quotes and all.
    char dir[] = "/tmp/tui-args-XXXXXX", name[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(name, sizeof name, "%s/'q'.png", dir);
    FILE *f = fopen(name, "w");
    if (f) fclose(f);
    char *p = args_path(name);
    CHECK(p && !strcmp(p, name), "an existing name with quotes: '%s'", p ? p : "(null)");
    free(p);
    remove(name);
    rmdir(dir);
}

static void test_wrap_and_tail(void) {
    Canvas c = {0};
    canvas_resize(&c, 12, 4);
    char row[256];
    const char *text = "one two three fourfivesixseven";
    CHECK(canvas_wrap(NULL, 0, 0, 10, 0, 0, 0, -1, text) == 4, "rows counted");
    CHECK(canvas_wrap(&c, 0, 1, 10, 0, 4, 0, -1, text) == 4, "rows drawn");
    const char *want[4] = {" one two", " three", " fourfivesi", " xseven"};
    for (int y = 0; y < 4; y++) {
        canvas_row(&c, y, row, sizeof row);
        CHECK(!strcmp(row, want[y]), "wrapped row %d: '%s', expected '%s'", y, row, want[y]);
    }
    CHECK(!canvas_contains(&c, "~"), "no row cut with '~'");
    // Rows from `skip` on, at most max_rows.
    canvas_clear(&c);
    canvas_wrap(&c, 0, 0, 10, 2, 1, 0, -1, text);
    canvas_row(&c, 0, row, sizeof row);
    CHECK(!strcmp(row, "fourfivesi") && !canvas_contains(&c, "xseven"), "skip 2, 1 row: '%s'", row);
    CHECK(canvas_wrap(NULL, 0, 0, 10, 0, 0, 0, -1, "") == 1, "an empty message is one row");
    canvas_free(&c);

    char buf[64];
    utf8_tail("images_background/Alphabet/character01/0683_01.png", 20, buf, sizeof buf);
    CHECK(!strcmp(buf, "...ter01/0683_01.png"), "20 columns, the file name kept: '%s'", buf);
    utf8_tail("short.png", 20, buf, sizeof buf);
    CHECK(!strcmp(buf, "short.png"), "a short path stays: '%s'", buf);
    utf8_tail("/d/\xc3\xa9t\xc3\xa9.png", 9, buf, sizeof buf);
    CHECK(!strcmp(buf, "...t\xc3\xa9.png"), "UTF-8 counted in columns: '%s'", buf);
}

int main(void) {
    test_canvas();
    test_preview();
    test_chart();
    test_args();
    test_args_path();
    test_wrap_and_tail();
    return check_summary("test_tui_render");
}
