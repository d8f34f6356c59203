# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_vinyl_qa_global_optspecs
    string join \n store store-wait= db= reference= text plot= rate= channels= format= h/help V/version
end

function __fish_vinyl_qa_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_vinyl_qa_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_vinyl_qa_using_subcommand
    set -l cmd (__fish_vinyl_qa_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l store-wait -d 'With --store, while another writer holds the collection past its 10 s busy timeout (a long learn, a repair), wait up to this much longer for it (30s, 10m), trying again, instead of failing; vinyl-rec auto waits 10m [default: 0s]' -r
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l db -d 'The collection\'s database, read for speed_drift_pct (and written by --store) [default: library.db in the recordings folder]' -r -F
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l reference -d 'The speed tone\'s nominal frequency, for speed_error_pct (a tone within -8 % and +8 % of it, 2.9 to 3.4 kHz for 3150, is measured against it)' -r
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l plot -d 'Also draw the report\'s plots as SVG files in DIR (made when missing): STEM-level.svg (the level each second, with the track markers), STEM-noise.svg (the noise floor\'s third-octave spectrum) and STEM-wow.svg (a speed tone\'s deviation spectrum), each when there is data for it' -r -F
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l store -d 'Also store the report in the collection as the FLAC file\'s (one a recording: it replaces the file\'s earlier one), for `vinyl-qa history`; vinyl-rec auto does it for each side it keeps'
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -l text -d 'A text summary instead of JSON'
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -s V -l version -d 'Print version'
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -a "history" -d 'The health reports the collection keeps for an album, or for every record (--deck), and the changes they show: a record\'s clicks or treble, the deck\'s stylus, speed, wow and drift'
complete -c vinyl-qa -n "__fish_vinyl_qa_needs_command" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vinyl-qa -n "__fish_vinyl_qa_using_subcommand history" -l plot -d 'Also draw the health of each side over its reports as an SVG file' -r -F
complete -c vinyl-qa -n "__fish_vinyl_qa_using_subcommand history" -l db -d 'The collection\'s database, read for speed_drift_pct (and written by --store) [default: library.db in the recordings folder]' -r -F
complete -c vinyl-qa -n "__fish_vinyl_qa_using_subcommand history" -l deck -d 'Every record\'s reports, and the changes that are the deck\'s (most records moved)'
complete -c vinyl-qa -n "__fish_vinyl_qa_using_subcommand history" -l text -d 'A text summary instead of JSON'
complete -c vinyl-qa -n "__fish_vinyl_qa_using_subcommand history" -s h -l help -d 'Print help'
complete -c vinyl-qa -n "__fish_vinyl_qa_using_subcommand help; and not __fish_seen_subcommand_from history help" -f -a "history" -d 'The health reports the collection keeps for an album, or for every record (--deck), and the changes they show: a record\'s clicks or treble, the deck\'s stylus, speed, wow and drift'
complete -c vinyl-qa -n "__fish_vinyl_qa_using_subcommand help; and not __fish_seen_subcommand_from history help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
