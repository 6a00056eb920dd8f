set terminal pngcairo size 1300,600 font ",11"
set output "fig4-throughput.png"
set multiplot layout 1,2 title "Figure 4: throughput (medians over 8 repetition(s))"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30
set grid ytics
set yrange [0:*]
set key top right
set title "all threads: maximum (closed loop, 1 s) and average (open loop at 10000 req/s)"
set ylabel "requests/s"
plot "throughput.dat" using 2:xtic(1) title "max (closed loop)", "" using 3 title "average (open loop)"
set title "wrk2's Req/Sec: per thread, 100 ms samples (2 threads)"
set ylabel "requests/s per thread"
plot "throughput.dat" using 5:xtic(1) title "max sample", "" using 4 title "average sample"
unset multiplot
