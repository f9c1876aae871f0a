# Shared by the expect scripts (run from the repository root by
# tests/run.sh). Each script drives the real program in a pseudo-terminal
# of a fixed size, with its own history file, and exits 0 pass, 1 fail,
# 77 skip.
set timeout 30
set env(TERM) xterm-256color
set env(LC_ALL) C.UTF-8
set tmpdir [exec mktemp -d]
# The program under test: ./siamese, or another build of it (SIAMESE=...).
set siamese [expr {[info exists env(SIAMESE)] ? $env(SIAMESE) : "./siamese"}]
set env(SIAMESE_HISTORY) $tmpdir/history
log_user 0

proc cleanup {} {
    global tmpdir
    catch {exec rm -rf $tmpdir}
}
proc fail {msg} {
    global expect_out
    puts "FAIL: $msg"
    if {[info exists expect_out(buffer)]} {
        # The screen's last output, escape sequences made visible.
        set tail [string range $expect_out(buffer) end-1500 end]
        puts "last output: [string map [list \x1b {\e} \r {\r}] $tail]"
    }
    cleanup
    exit 1
}
proc skip {msg} {
    puts "SKIP: $msg"
    cleanup
    exit 77
}
proc pass {} {
    cleanup
    exit 0
}

# Omniglot: $OMNIGLOT, as the shell tests, else beside the repository (CI
# clones the repo next to shared/).
proc omniglot_root {} {
    global env
    if {[info exists env(OMNIGLOT)] && $env(OMNIGLOT) ne ""} { return $env(OMNIGLOT) }
    return ../shared/omniglot
}
proc omniglot_dir {} {
    set d [omniglot_root]/images_background/Alphabet_of_the_Magi/character01
    if {![file isdirectory $d]} { skip "no Omniglot images at $d (set OMNIGLOT)" }
    return $d
}

# Runs cmd in a shell on a rows x cols terminal; the shell prints the
# terminal settings before and after, and the exit status. Ctrl-C reaches
# the shell too: its trap keeps it going whether the program exits 130 or
# dies of the signal.
proc start {rows cols cmd} {
    global spawn_id spawn_out
    spawn -noecho bash -c "trap : INT; stty rows $rows cols $cols; echo BEFORE=\$(stty -g); $cmd; echo EXIT=\$?; echo AFTER=\$(stty -g)"
    global expect_out before_stty
    want {BEFORE=([^\r\n]+)} "the terminal settings"
    set before_stty $expect_out(1,string)
}

# Waits for a regular expression in the output.
proc want {re what} {
    global expect_out
    expect {
        -re $re {}
        timeout { fail "timed out waiting for $what" }
        eof { fail "the program ended while waiting for $what" }
    }
}

# Waits for plain text (no pattern characters).
proc want_text {text what} {
    global expect_out
    expect {
        -ex $text {}
        timeout { fail "timed out waiting for $what: '$text'" }
        eof { fail "the program ended while waiting for $what: '$text'" }
    }
}

# Between two words of a curses screen: blanks, or the cursor moves and
# erases curses uses to skip them.
set GAP {(?:[ ]|\x1b\[[0-9;]*[A-Za-z])+}

# Waits for the end: the exit status must be status and the terminal
# settings those from before; with curses set, the alternate screen must
# have been left. Returns the output since the last match.
# The exit may take longer than a screen's update on a loaded machine (a
# crash's core dump, the model's memory given back): up to 90 s.
proc finish {status {curses 1}} {
    global expect_out before_stty
    set timeout 90 ;# (a local: expect reads it before the global one)
    expect {
        -re {EXIT=([0-9]+)\r?\n} {}
        timeout { fail "timed out waiting for the exit" }
        eof { fail "no exit status" }
    }
    set seen $expect_out(buffer)
    set got $expect_out(1,string)
    if {$got != $status} { fail "exit status $got, expected $status" }
    if {$curses && [string last "\x1b\[?1049l" $seen] < [string last "\x1b\[?1049h" $seen]} {
        fail "the alternate screen was not left"
    }
    if {$curses && [string last "\x1b\[?1049l" $seen] < 0} { fail "no exit from the alternate screen" }
    want {AFTER=([^\r\n]+)} "the terminal settings after"
    if {$expect_out(1,string) ne $before_stty} {
        fail "terminal not restored: before $before_stty, after $expect_out(1,string)"
    }
    return $seen
}

# The pid of the program the shell started (its only child), from /proc
# (no procps needed).
proc child_pid {} {
    set shell [exp_pid]
    for {set i 0} {$i < 50} {incr i} {
        foreach dir [glob -nocomplain /proc/\[0-9\]*] {
            if {[catch {open $dir/stat} f]} continue
            set stat [read $f]
            close $f
            # pid (comm) state ppid ...: comm may hold spaces, so after ')'.
            set fields [string range $stat [expr {[string last ")" $stat] + 2}] end]
            if {[lindex $fields 1] == $shell} { return [file tail $dir] }
        }
        after 100
    }
    fail "no child process of the shell"
}
