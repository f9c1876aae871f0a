// The option values of every command (tui/cli.c): a whole number or a
// number is taken at both ends of its range and refused one step past
// them, and a value that is empty, has trailing text, overflows or is not
// a number (nan) is refused with a message, leaving the option as it was.
// (bad_options.sh drives the messages through the commands; this checks
// the bounds, which a command line rarely reaches.)
#include "../tui/cli.h"

#include <float.h>
#include <limits.h>

#include "check.h"

// Parses s in [lo, hi]: 1 when taken (into *got), 0 when refused with
// one message and *got untouched.
static int int_taken(const char *s, long lo, long hi, long *got) {
    const int said = cli_errors_said();
    long v = -12345;
    const int rc = cli_parse_int("--x", s, lo, hi, &v);
    CHECK(rc == 0 ? cli_errors_said() == said : cli_errors_said() == said + 1 && v == -12345,
          "'%s': a refusal says one message and keeps the value, a parse says none", s);
    *got = v;
    return rc == 0;
}

static int float_taken(const char *s, double lo, double hi, double *got) {
    const int said = cli_errors_said();
    double v = -12345;
    const int rc = cli_parse_float("--x", s, lo, hi, &v);
    CHECK(rc == 0 ? cli_errors_said() == said : cli_errors_said() == said + 1 && v == -12345,
          "'%s': a refusal says one message and keeps the value, a parse says none", s);
    *got = v;
    return rc == 0;
}

static void test_int(void) {
    long v;
    CHECK(int_taken("1", 1, 1024, &v) && v == 1, "the lower end is taken: %ld", v);
    CHECK(int_taken("1024", 1, 1024, &v) && v == 1024, "the upper end is taken: %ld", v);
    CHECK(!int_taken("0", 1, 1024, &v) && !int_taken("1025", 1, 1024, &v), "one past either end");
    CHECK(int_taken("-3", -5, 5, &v) && v == -3, "a negative number: %ld", v);
    CHECK(int_taken("0", 0, LONG_MAX, &v) && v == 0 &&
              int_taken("9223372036854775807", 0, LONG_MAX, &v) && v == LONG_MAX,
          "the whole range of a long");
    // An empty value would read as 0, inside a range from 0.
    CHECK(!int_taken("", 0, 10, &v), "an empty value");
    CHECK(!int_taken("4x", 0, 10, &v) && !int_taken("4 ", 0, 10, &v) && !int_taken("x", 0, 10, &v) &&
              !int_taken("2.5", 0, 10, &v),
          "trailing or other text");
    CHECK(!int_taken("99999999999999999999", 0, LONG_MAX, &v) &&
              !int_taken("-99999999999999999999", LONG_MIN, 0, &v),
          "a number past a long");
}

static void test_float(void) {
    double v;
    CHECK(float_taken("0", 0, 1, &v) && v == 0, "the lower end is taken: %g", v);
    CHECK(float_taken("1", 0, 1, &v) && v == 1, "the upper end is taken: %g", v);
    CHECK(float_taken("1e-3", 1e-3, 1e7, &v) && v == 1e-3 && float_taken("1e7", 1e-3, 1e7, &v),
          "ends written as exponents");
    CHECK(!float_taken("-1e-9", 0, 1, &v) && !float_taken("1.000001", 0, 1, &v),
          "just past either end");
    CHECK(float_taken("0.25", 0, 1, &v) && v == 0.25, "a fraction: %g", v);
    // NaN compares false with both ends: only the check for a number stops it.
    CHECK(!float_taken("nan", 0, 1, &v) && !float_taken("NaN", -1e300, 1e300, &v),
          "nan is not a number");
    CHECK(!float_taken("inf", 0, DBL_MAX, &v) && !float_taken("-inf", -DBL_MAX, 0, &v),
          "infinities");
    CHECK(!float_taken("1e400", 0, DBL_MAX, &v), "a number past a double");
    CHECK(!float_taken("", 0, 1, &v) && !float_taken("0.5x", 0, 1, &v) && !float_taken(".", 0, 1, &v),
          "empty or trailing text");
}

static void test_device(void) {
    CHECK(!cli_parse_device("auto") && !cli_parse_device("cpu") && !cli_parse_device("cuda") &&
              !cli_parse_device("cuda:0") && !cli_parse_device("cuda:64"),
          "the devices taken");
    CHECK(cli_parse_device("cuda:") && cli_parse_device("cuda:65") && cli_parse_device("cuda:-1") &&
              cli_parse_device("cuda:1x") && cli_parse_device("gpu") && cli_parse_device("CPU"),
          "the devices refused");
}

int main(void) {
    test_int();
    test_float();
    test_device();
    return check_summary("test_cli");
}
