"""make install: the library, headers, pkg-config file, daemons and schema
land under DESTDIR/PREFIX, and a program outside the tree builds against the
installed libmailcore with pkg-config and runs."""
import os
import subprocess

import pytest

from conftest import TOP

PROGRAM = r'''
#include <mailcore/mc-password.h>
#include <mailcore/mc-str.h>
#include <stdio.h>
#include <stdlib.h>
int main(void)
{
	uint64_t bytes = 0;
	char *hash = mc_password_hash("pw", MC_PW_YESCRYPT, NULL);
	if (!mc_str_parse_size("25M", &bytes) || hash == NULL)
		return 1;
	printf("%llu %d\n", (unsigned long long)bytes,
	       mc_password_verify("pw", hash, NULL));
	free(hash);
	return 0;
}
'''


def test_install_into_destdir_and_build_against_it(tmp_path, stack):
    if "build-san" in stack.bin:
        pytest.skip("the sanitizer pass installs nothing")
    dest = tmp_path / "root"
    subprocess.run(["make", "-s", "install", "PREFIX=/usr/local", f"DESTDIR={dest}"],
                   cwd=TOP, check=True, capture_output=True)
    prefix = dest / "usr/local"
    for f in ("bin/mc-smtpd", "bin/mailctl", "lib/libmailcore.a", "lib/libmailcore.so.0",
              "include/mailcore/mc-pool.h", "share/mailcore/schema/0001_tenancy.sql"):
        assert (prefix / f).exists(), f
    pc = prefix / "lib/pkgconfig/mailcore.pc"
    pc.write_text(pc.read_text().replace("prefix=/usr/local", f"prefix={prefix}"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "mailcore"],
                           env=dict(os.environ, PKG_CONFIG_PATH=str(pc.parent)),
                           check=True, capture_output=True, text=True).stdout.split()
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    subprocess.run(["gcc", "-o", str(tmp_path / "prog"), str(src), *flags],
                   check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "prog")], check=True, capture_output=True,
                         text=True, env=dict(os.environ,
                                             LD_LIBRARY_PATH=str(prefix / "lib")))
    assert out.stdout == "26214400 1\n"
