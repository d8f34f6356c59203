complete -c vinyl-listen -l ring -d 'Listen to this ring (live, frame numbers from the ring) instead of stdin' -r -F
complete -c vinyl-listen -l first-frame -d 'The timeline frame of stdin\'s first frame' -r
complete -c vinyl-listen -l level-every -d 'How often to write a level event (e.g. 100ms, 4800f); 0s writes none' -r
complete -c vinyl-listen -l output -d 'Append the events to this file instead of writing them to stdout (created with mode 0644). A file deleted or replaced while the listener runs is created again or reopened within a second (logged once)' -r -F
complete -c vinyl-listen -l max-bytes -d 'With --output: when the file would grow past this size, rename it to FILE.1 (replacing the previous one) and start a new FILE, so the events take at most twice this. Bytes, or a number with K, M or G (KiB, MiB, GiB)' -r
complete -c vinyl-listen -l gap-limit -d 'The longest stretch without information that a side bridges: a journaled gap\'s digital silence, exact zeros, or frames the listener never saw (it was overtaken) are neither music nor noise nor a lift; longer than this, the side ends with reason "gap"' -r
complete -c vinyl-listen -l library -d 'Recognise replays against this collection (vinyl-library\'s database; default: its default place, library.db in the recordings folder, once it exists): a `recognized` event after each needle drop of a learned side, and its titles on later `track_start`s. The speed the deck\'s last run-out measured is searched first (12 s), for sides learned with theirs. Following a ring, each side goes in the collection\'s listening history at its end (vinyl-library plays), recognised or not; while another writer holds the database, the note waits and is tried again every second. At a stop signal the notes still waiting get 15 s; each play left then is named in the log with its frame ("side at frame N: not in the listening history")' -r -F
complete -c vinyl-listen -l status -d 'Read nothing: print the turntable\'s state, the latest levels and the last side\'s report from an events file another vinyl-listen writes (--output FILE), then exit (1 when it has none)' -r -F
complete -c vinyl-listen -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-listen -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-listen -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-listen -l meter -d 'Draw a level meter with peak hold on the terminal (stderr) and give gain advice at the end of each side'
complete -c vinyl-listen -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-listen -s V -l version -d 'Print version'
