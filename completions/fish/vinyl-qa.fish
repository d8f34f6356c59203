complete -c vinyl-qa -l reference -d 'The speed tone\'s nominal frequency, for speed_error_pct (a tone within -8 % and +8 % of it, 2.9 to 3.4 kHz for 3150, is measured against it)' -r
complete -c vinyl-qa -l rate -d 'Sample rate in frames per second (44100, 48000, 96000…)' -r
complete -c vinyl-qa -l channels -d 'Interleaved channels per frame (1..8)' -r
complete -c vinyl-qa -l format -d 'Sample format of the raw PCM: s16le, or packed 24-bit s24_3le' -r -f -a "s16le\t'Signed 16-bit little-endian, 2 bytes a sample (CD quality; the default)'
s24_3le\t'Signed 24-bit little-endian packed in 3 bytes (ALSA `S24_3LE`), for 24-bit archives'"
complete -c vinyl-qa -l text -d 'A text summary instead of JSON'
complete -c vinyl-qa -s h -l help -d 'Print help (see more with \'--help\')'
complete -c vinyl-qa -s V -l version -d 'Print version'
