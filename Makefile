# luo-net: thin entry points; the work is done by scripts/.
.PHONY: all check check-sanitize test demo demo-criu bench bench-restore update-matrix tree export build clean help

help:
	@echo "make demo          build what is missing, run the live-update demo"
	@echo "                   [CONNS=N]: N connections, IPv4 and IPv6 alternating (default 2)"
	@echo "                   [AGENT=kernel]: the kernel saves the sockets (LUO file handler), not TCP_REPAIR"
	@echo "make demo-criu     CRIU checkpoints an iperf3 server, restores it across the live update (Debian's CRIU 4.2.1)"
	@echo "                   [LOCK=iptables|nftables|skip] [KERNELS=series|base|base-series]"
	@echo "make check         the whole suite (static checks, per-patch builds, guest tests, negative controls)"
	@echo "make check-sanitize every guest test on kernels with KASAN, UBSAN, kmemleak, lockdep [T=NAME...]"
	@echo "make test T=NAME   one test from tests.list, on the series' kernel"
	@echo "make bench         established-path cost, series vs base kernel (non-debug builds)"
	@echo "make bench-restore a live update with 1, 10, 100, 1000 connections: dump, restore, stall [CONNS='...'] [AGENT=kernel]"
	@echo "make update-matrix same image, another build, two in a row, base -> series, series -> base [MATRIX_CONNS=N]"
	@echo "make tree          materialize build/linux (base + patches/)"
	@echo "make export        write build/linux's commits back to patches/"
	@echo "make clean         remove build/ (the download and ccache caches are kept)"

check:
	bash scripts/check.sh

check-sanitize:
	SANITIZE=1 bash scripts/check.sh

test:
	@test -n "$(T)" || { echo "usage: make test T=<name from tests.list>"; exit 2; }
	T='$(T)' bash scripts/check.sh

demo:
	bash scripts/demo.sh

demo-criu:
	bash scripts/demo-criu.sh

bench:
	bash scripts/bench.sh

bench-restore:
	bash scripts/bench-restore.sh

update-matrix:
	bash scripts/update-matrix.sh

tree:
	bash scripts/deps.sh && bash scripts/tree.sh

export:
	bash scripts/export.sh

clean:
	rm -rf build
