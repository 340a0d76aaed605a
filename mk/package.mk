# package.mk - `make package-test`: the Debian packages (debian/) built with dpkg-buildpackage from a copy of
# the tree, checked by lintian, installed, run, built against, and purged again (tests/package/run.sh).
# Included by the Makefile; CI runs it after `make test`.
.PHONY: package-test
package-test:
	@scripts/deps.sh package
	@tests/package/run.sh
