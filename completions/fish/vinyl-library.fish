# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_vinyl_library_global_optspecs
    string join \n db= h/help V/version
end

function __fish_vinyl_library_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_vinyl_library_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_vinyl_library_using_subcommand
    set -l cmd (__fish_vinyl_library_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "name" -d 'Link a recorded side to an album side (creating either) and tag its FLAC file'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "learn" -d 'Learn files that are already named, from their tags (artist, album, side, titles, cover)'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "recognize" -d 'Recognise a replay of a learned side: prints {"match":{…}} (exit 0) or {"match":null} (exit 1)'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "import-release" -d 'Store a release\'s tracklist, from a MusicBrainz (ws/2, inc=recordings) or Discogs JSON file'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "list" -d 'The albums, their sides, tracks and recordings, one line each'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "show" -d 'One album (its number, or words of its artist and title) with its label and format'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "plays" -d 'The listening history: each side the listener or vinyl-rec auto saw, recorded or not, when its needle dropped (in local time; --json: as stored, in UTC), and what it was'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "export" -d 'The whole collection as JSON (--json, the default) or CSV, one row per track'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "forget" -d 'Take a recording out of the collection (its file is left alone)'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "check" -d 'Check the database, its fingerprint index, the recordings\' files and their fingerprints\' version; --repair relearns old fingerprints and removes empty sides and albums and gone fingerprints\' pairs'
complete -c vinyl-library -n "__fish_vinyl_library_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -l artist -d 'The album\'s artist' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -l album -d 'The album\'s title' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -l year -d 'The release year' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -l side -d 'The side: A, B, C…' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -l title -d 'A track\'s title, in order (repeat for each track)' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -l cover -d 'The front cover, a PNG or JPEG of at most 10 MB' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand name" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand learn" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand learn" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand learn" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -l within -d 'Give up after this much audio without a recognition (1m30s, 45s, 2880000f)' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -l rpm -d 'The deck\'s speed as a run-out measured it (vinyl-listen\'s side_end rpm; by default a FLAC\'s own VINYL_RPM tag): sides learned with their run-out\'s rpm are searched around the speed the two give for the first 12 s, then at every speed' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand recognize" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand import-release" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand import-release" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand import-release" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand list" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand list" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand list" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand show" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand show" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand show" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand plays" -l since -d 'Only plays that began at or after this date or time, local unless it ends in Z or ±HH:MM (2026-12-01, 2026-12-01T20:00, 2026-12-01T20:00Z)' -r
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand plays" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand plays" -l json -d 'One JSON object a line instead of text'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand plays" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand plays" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand export" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand export" -l json -d 'JSON: an array of albums with their sides (the default)'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand export" -l csv -d 'CSV: artist, album, year, side, track, title'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand export" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand export" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand forget" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand forget" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand forget" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand check" -l db -d 'The database [default: library.db in the recordings folder]' -r -F
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand check" -l repair -d 'Relearn, from their files\' tags, the recordings whose fingerprint is of an older print version (a missing file is reported, the others relearned), remove sides with neither a recording nor a track and albums without a side, and sweep the pairs of fingerprints that are gone from the index'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand check" -s h -l help -d 'Print help'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand check" -s V -l version -d 'Print version'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "name" -d 'Link a recorded side to an album side (creating either) and tag its FLAC file'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "learn" -d 'Learn files that are already named, from their tags (artist, album, side, titles, cover)'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "recognize" -d 'Recognise a replay of a learned side: prints {"match":{…}} (exit 0) or {"match":null} (exit 1)'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "import-release" -d 'Store a release\'s tracklist, from a MusicBrainz (ws/2, inc=recordings) or Discogs JSON file'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "list" -d 'The albums, their sides, tracks and recordings, one line each'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "show" -d 'One album (its number, or words of its artist and title) with its label and format'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "plays" -d 'The listening history: each side the listener or vinyl-rec auto saw, recorded or not, when its needle dropped (in local time; --json: as stored, in UTC), and what it was'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "export" -d 'The whole collection as JSON (--json, the default) or CSV, one row per track'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "forget" -d 'Take a recording out of the collection (its file is left alone)'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "check" -d 'Check the database, its fingerprint index, the recordings\' files and their fingerprints\' version; --repair relearns old fingerprints and removes empty sides and albums and gone fingerprints\' pairs'
complete -c vinyl-library -n "__fish_vinyl_library_using_subcommand help; and not __fish_seen_subcommand_from name learn recognize import-release list show plays export forget check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
