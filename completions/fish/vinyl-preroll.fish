# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_vinyl_preroll_global_optspecs
    string join \n h/help V/version
end

function __fish_vinyl_preroll_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_vinyl_preroll_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_vinyl_preroll_using_subcommand
    set -l cmd (__fish_vinyl_preroll_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c vinyl-preroll -n "__fish_vinyl_preroll_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_needs_command" -s V -l version -d 'Print version'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_needs_command" -f -a "fill" -d 'Write PCM from stdin or a FIFO into the ring (its one writer), for sources other than vinyl-capture'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_needs_command" -f -a "tap" -d 'Copy frames from the ring to stdout: from the past, then live'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_needs_command" -f -a "info" -d 'Show the ring\'s format, capacity, head, oldest frame and writer'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -l ring -d 'The ring file, usually in /dev/shm [default: /dev/shm/vinyl-ring]' -r -F
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -l capacity -d 'History the ring guarantees, e.g. 30s, 30m (a whole LP side), or frames as 1440000f, at most 24h; 10 % more (at least 2 s) is allocated as slack for readers [default: 30s]' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -l input -d 'Read from this FIFO instead of stdin, reopening it whenever its writer leaves; created (mode 0600) when missing. A regular file is read once [default: stdin]' -r -F
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -l batch -d 'After a read that found less than a full buffer (input arriving at its real rate), let input gather this long before reading again, so that each wake-up takes several of the capture\'s periods at once: fewer wake-ups and less CPU for this much added latency. Input that arrives faster than it is read is never held back; 0s reads as soon as anything arrives. At most 1s, and at most a quarter of what the input pipe holds (it is enlarged to /proc/sys/fs/pipe-max-size, at most 1 MiB), so the writer upstream never finds it full' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand fill" -s V -l version -d 'Print version'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l ring -d 'The ring file [default: /dev/shm/vinyl-ring]' -r -F
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l from -d 'Start this long before the head (the next frame to be written): -30s, -1m30s, -48000f; 0s is live. When the ring holds less, start at its oldest frame [default: 0s]' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l from-frame -d 'Start at this absolute frame number of the ring\'s timeline. Waits for it when it is not written yet. Exact even up to half the ring\'s slack before the guaranteed history while those frames are intact (a script that read the head a moment ago); older than that, starts at the oldest guaranteed frame and says so' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l until-frame -d 'End before this absolute frame (exclusive)' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l duration -d 'End this long after the requested start frame, so `--from-frame N --duration D` gives exactly the frames N..N+D' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l wav -d 'Write a WAV file (mode 0600, never overwriting) instead of raw PCM to stdout; needs an end point (--until-frame, --duration or --no-follow)' -r -F
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l fifo -d 'Write to this FIFO instead of stdout, for a reader that comes and goes and must never hold the tap back (a Snapcast server\'s pipe source): created (mode 0600) when missing and held open read-write, its pipe grown to 1 MiB (snapserver lets its buffer\'s worth wait there); while no reader takes frames for 2.5 s, the audio waiting in the pipe is drained and new frames are dropped (counted, logged), so a reader that comes back starts at the live position. Needs --live' -r -F
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l timeline -d 'Pin the tap to this timeline (the `timeline` string of `vinyl-preroll info --json`): refused, exit 1, when the ring holds another one (it was recreated or replaced since the id was read), so a frame number is never applied to other audio' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l end-file -d 'Take the end from FILE (internal, for vinyl-rec auto, whose recording must outlive it): the file holds a decimal frame number, the end (exclusive); it is read again whenever it changes (replace it atomically), and a later number may only lower the end. A missing file is no end yet' -r -F
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l hold -d 'Stay this far behind the head while the end is not yet reached (strict taps told their end late, as vinyl-rec auto\'s are): frames are written only once they are this old, so an end that arrives up to this late is still exact. Once the head reaches the end, or on SIGTERM/SIGINT/SIGHUP, the tap writes straight up to the end or the head. Must be shorter than the ring holds [default: 0s]' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l batch -d 'After a read that found less than a full buffer (input arriving at its real rate), let input gather this long before reading again, so that each wake-up takes several of the capture\'s periods at once: fewer wake-ups and less CPU for this much added latency. Input that arrives faster than it is read is never held back; 0s reads as soon as anything arrives. At most 1s, and at most a quarter of what the input pipe holds (it is enlarged to /proc/sys/fs/pipe-max-size, at most 1 MiB), so the writer upstream never finds it full' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l no-follow -d 'End at the head as it was when the tap started, instead of following live'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l live -d 'Live mode, for streams and monitors: start at the newest frame; when overtaken by the writer, skip forward to live (logged and counted) instead of stopping; skip a gap longer than 1 s the same way; when the ring is replaced, follow its new timeline'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l s24-in-32 -d 'Write each packed 24-bit sample (s24_3le) in 4 bytes (24-in-32, little-endian, the top byte its sign), the layout Snapcast\'s pipe source reads as sampleformat RATE:24:CHANNELS; a 16-bit ring is written as it is'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -l measure-latency -d 'Measure the delay from a frame\'s publication in the ring to its write to stdout and print statistics at the end (benchmarks)'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand tap" -s V -l version -d 'Print version'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand info" -l ring -d 'The ring file [default: /dev/shm/vinyl-ring]' -r -F
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand info" -l wait-advancing -d 'Wait up to DURATION for a writer to be alive and the head to move (a ring that does not exist yet is waited for too), then print as usual; exit 1 with what was seen when it does not happen in time. What vinyl-up waits on: readiness from the ring itself' -r
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand info" -l json -d 'One JSON object on one line, keys: ring, version, format, rate, channels, capacity_frames, slot_frames, head, oldest_frame, newest_frame, writer_alive, writer_pid, generation, timeline, writers, gap_count, gap_frames, frame0_unix_ns, frame0_time, and gaps (the journal: an array of {first, frames, cause, exact, time})'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand info" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand info" -s V -l version -d 'Print version'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand help; and not __fish_seen_subcommand_from fill tap info help" -f -a "fill" -d 'Write PCM from stdin or a FIFO into the ring (its one writer), for sources other than vinyl-capture'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand help; and not __fish_seen_subcommand_from fill tap info help" -f -a "tap" -d 'Copy frames from the ring to stdout: from the past, then live'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand help; and not __fish_seen_subcommand_from fill tap info help" -f -a "info" -d 'Show the ring\'s format, capacity, head, oldest frame and writer'
complete -c vinyl-preroll -n "__fish_vinyl_preroll_using_subcommand help; and not __fish_seen_subcommand_from fill tap info help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
