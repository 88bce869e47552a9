# growth.gp: plots how /register and /machines behave as the machines table
# grows, from the data file bench/run --plot writes. Called as
#	gnuplot -e "datafile='IN'; outfile='OUT.svg'" growth.gp
# Data columns: machines recorded, /register req/s, /machines req/s,
# /machines MB/s.

set terminal svg size 900,420 dynamic font "sans,12" background "white"
set output outfile
set datafile separator whitespace
set key bottom right
set grid
set xlabel "machines recorded"
set format x "%.0s%c"
set multiplot layout 1,2 title "sovran-provisioner: cost as the machines table grows"

set title "POST /register"
set ylabel "requests/s (median)"
set yrange [0:*]
plot datafile using 1:2 with linespoints lw 2 pt 7 title "/register"

set title "GET /machines (whole list)"
set key center right
set ylabel "requests/s (median)"
set y2label "MB/s"
set y2tics
set ytics nomirror
set logscale y
set yrange [*:*]
set y2range [0:*]
plot datafile using 1:3 with linespoints lw 2 pt 7 title "req/s (log)", \
     datafile using 1:4 axes x1y2 with linespoints lw 2 pt 5 dt 2 title "MB/s"
unset multiplot
