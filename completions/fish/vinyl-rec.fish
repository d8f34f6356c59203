# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_vinyl_rec_global_optspecs
    string join \n h/help V/version
end

function __fish_vinyl_rec_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_vinyl_rec_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_vinyl_rec_using_subcommand
    set -l cmd (__fish_vinyl_rec_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "start" -d 'Start a recording that begins the pre-roll before now'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "stop" -d 'Stop the recording and finalise its file'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "status" -d 'Say whether a recording runs, and how long and large it is so far'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "list" -d 'List the finished recordings: path, duration, size, date, title, tracks, loudness'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "snapshot" -d 'Save the last D of the ring as a finished file'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "tracks" -d 'Print a recording\'s track markers, or replace them in place'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "split" -d 'Write one FLAC file per track of a recording'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "auto" -d 'Record every side hands-free, following vinyl-listen\'s events (long-running)'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "config" -d 'Check the configuration (every VINYL_* key), or print its values'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "_run" -d 'The background half of start (internal): runs tap | recorder for the state folder STATE'
complete -c vinyl-rec -n "__fish_vinyl_rec_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand start" -l preroll -d 'How far before now the recording starts: 30s, 1m30s, 250ms, or frames as 48000f [default: $VINYL_PREROLL, or 30s]' -r
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand start" -l name -d 'The file name, without .flac [default: rec-YYYYMMDD-HHMMSS, snapshots snap-YYYYMMDD-HHMMSS]. A name that is empty, starts with - or ., contains / or .., control characters, or is too long for a file name (NAME.flac.part over 255 bytes) is refused (exit 2). An existing recording of the same name is never overwritten (exit 1)' -r
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand start" -l tag -d 'A Vorbis comment, repeatable: --tag TITLE="Kind of Blue" --tag ARTIST="Miles Davis". The recorder adds VINYL_START_FRAME, VINYL_CAPTURE_START and VINYL_PREROLL itself' -r
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand start" -l dir -d 'The recordings folder; recordings go to DIR/YYYY-MM/NAME.flac [default: $VINYL_RECORDINGS, or ~/recordings]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand start" -l ring -d 'The ring [default: $VINYL_RING, or /dev/shm/vinyl-ring]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand start" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand stop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand stop" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand status" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand list" -l dir -d 'The recordings folder [default: $VINYL_RECORDINGS, or ~/recordings]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand list" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand snapshot" -l last -d 'The length of the snapshot, e.g. 25m (a whole side), 30s, or frames as 48000f' -r
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand snapshot" -l name -d 'The file name, without .flac [default: rec-YYYYMMDD-HHMMSS, snapshots snap-YYYYMMDD-HHMMSS]. A name that is empty, starts with - or ., contains / or .., control characters, or is too long for a file name (NAME.flac.part over 255 bytes) is refused (exit 2). An existing recording of the same name is never overwritten (exit 1)' -r
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand snapshot" -l tag -d 'A Vorbis comment, repeatable: --tag TITLE="Kind of Blue" --tag ARTIST="Miles Davis". The recorder adds VINYL_START_FRAME, VINYL_CAPTURE_START and VINYL_PREROLL itself' -r
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand snapshot" -l dir -d 'The recordings folder; recordings go to DIR/YYYY-MM/NAME.flac [default: $VINYL_RECORDINGS, or ~/recordings]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand snapshot" -l ring -d 'The ring [default: $VINYL_RING, or /dev/shm/vinyl-ring]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand snapshot" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand tracks" -l set -d 'Replace the markers with LIST: track starts separated by commas, each a time from the file\'s first sample as H:MM:SS.sss, M:SS.sss or seconds (3:12.5, 1:02:03, 192.5), or a frame number as 9240000f; in increasing order. Times are rounded to the nearest frame; a first track at 0 is added when missing' -r
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand tracks" -l json -d 'Print one JSON object instead of the table (see JSON OUTPUT below)'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand tracks" -l cue -d 'Print a CUE sheet instead (FILE "NAME.flac" WAVE, a TRACK with INDEX 01 MM:SS:FF each), for cuebreakpoints, shnsplit -f and players; CUE counts 1/75 s, so each start is rounded to the nearest 1/75 s (13.3 ms)'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand tracks" -l breakpoints -d 'Print the split points for shnsplit (every start but the first, as M:SS.mmm, exact to the millisecond; minutes go past 59): vinyl-rec tracks F --breakpoints | shnsplit F'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand tracks" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand tracks" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand split" -l into -d 'The folder the parts go to, created when missing [default: the recording\'s folder]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand split" -l library -d 'Name the parts for music libraries: DIR/Artist/Album (Year)/A1 Title.flac, from the tags vinyl-library name wrote'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand split" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand split" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand auto" -l events -d 'The events file vinyl-listen --output writes [default: RUN/events]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand auto" -l title-fifo -d 'An encoder\'s metadata FIFO, where titles go; repeat it for several encoders (the MP3 and each Ogg mount), each written without waiting [default: RUN/title]' -r -F
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand auto" -l check -d 'Check the VINYL_AUTO_* settings (against each other, VINYL_RING_CAPACITY and the ring when it exists) and exit: 0 when auto would start, 2 naming the bad key. Starts nothing'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand auto" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand auto" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand config" -l check -d 'Only check: print nothing when every value is good'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand config" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand _run" -s h -l help -d 'Print help'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand _run" -s V -l version -d 'Print version'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "start" -d 'Start a recording that begins the pre-roll before now'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "stop" -d 'Stop the recording and finalise its file'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "status" -d 'Say whether a recording runs, and how long and large it is so far'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "list" -d 'List the finished recordings: path, duration, size, date, title, tracks, loudness'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "snapshot" -d 'Save the last D of the ring as a finished file'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "tracks" -d 'Print a recording\'s track markers, or replace them in place'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "split" -d 'Write one FLAC file per track of a recording'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "auto" -d 'Record every side hands-free, following vinyl-listen\'s events (long-running)'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "config" -d 'Check the configuration (every VINYL_* key), or print its values'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "_run" -d 'The background half of start (internal): runs tap | recorder for the state folder STATE'
complete -c vinyl-rec -n "__fish_vinyl_rec_using_subcommand help; and not __fish_seen_subcommand_from start stop status list snapshot tracks split auto config _run help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
