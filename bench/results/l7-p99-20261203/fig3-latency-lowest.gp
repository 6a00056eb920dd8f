set terminal pngcairo size 1100,700 font ",11"
set output "fig3-latency-lowest.png"
set title "Figure 3: latency by percentile, the three lowest p99\n10000 req/s over 100 connections, 2 threads, 5 s; median-p99 run of 8 repetition(s)"
set logscale x
set logscale y
set xrange [1:*]
set xtics ("0%%" 1, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000, "99.9999%%" 1000000)
set xlabel "percentile (x = 1/(1-p), log scale)"
set ylabel "latency, ms (log scale)"
set grid
set key right bottom
plot "spectrum-limit.dat" using 3:1 with lines linewidth 2 title "no filtering (the limit)", "spectrum-l4.dat" using 3:1 with lines linewidth 2 title "velum, 1 L4 rule", "spectrum-l7-40.dat" using 3:1 with lines linewidth 2 title "velum, 40 L7 rules"
