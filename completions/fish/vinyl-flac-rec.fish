complete -c vinyl-flac-rec -s o -l output -d 'The FLAC file to write. It is written as FILE.part and renamed when finished; an existing FILE or FILE.part is never overwritten (exit 1). Required unless --recover is given' -r -F
complete -c vinyl-flac-rec -l recover -d 'Repair a FILE.part left by a recorder that was killed (cut a torn last frame, set the length in STREAMINFO) and rename it to FILE; reads no input' -r -F
complete -c vinyl-flac-rec -l tag -d 'A Vorbis comment KEY=VALUE to store (repeatable; KEY is printable ASCII without \'=\')' -r
complete -c vinyl-flac-rec -l compression -d 'Compression level, 0 (fastest) to 8 (smallest); see the table above' -r
complete -c vinyl-flac-rec -l max-duration -d 'Stop after exactly this much audio (e.g. 45m, 2h, 48000f) and finish the file. Default: record until end of input or SIGTERM/SIGINT/SIGHUP' -r
complete -c vinyl-flac-rec -l sync-every -d 'Sync the file to disk every this much audio (e.g. 5s, 1m, 240000f); 0 syncs only at the end' -r
complete -c vinyl-flac-rec -l start-frame -d 'Absolute frame number of the capture at the recording\'s first frame, stored as VINYL_START_FRAME (from the pre-roll ring). Default: not stored' -r
complete -c vinyl-flac-rec -l capture-start -d 'RFC 3339 time of the capture\'s frame 0 (e.g. 2026-11-24T20:15:00.125+01:00), stored as given in VINYL_CAPTURE_START. Default: not stored' -r
complete -c vinyl-flac-rec -l preroll -d 'How much of the recording\'s start is pre-roll (e.g. 30s), stored in frames as VINYL_PREROLL; also moves DATE back by that much. Default: not stored' -r
complete -c vinyl-flac-rec -l ring -d 'The ring the input is tapped from (with --start-frame): its gap journal is followed while recording, and the gaps inside the recording (lost audio present as silence) are stored at the end in a VINYL_GAPS tag, `OFFSET+FRAMES:CAUSE:exact|estimated` items separated by commas, offsets in frames from the file\'s first sample (the 32 largest at most; then VINYL_GAPS_TOTAL=COUNT+FRAMES:exact|at-most counts them all). Default: no VINYL_GAPS' -r -F
complete -c vinyl-flac-rec -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-flac-rec -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-flac-rec -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-flac-rec -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-flac-rec -s V -l version -d 'Print version'
