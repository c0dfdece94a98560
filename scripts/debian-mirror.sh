#!/usr/bin/env bash
# The Debian archive apt already uses on this machine, for debootstrap-based image builds
# (no mirror host name is ever written into the repository).
#
# Source it and call `debian_configured_mirror SUITE`, or run it: `bash scripts/debian-mirror.sh SUITE`.
# Prints the URI of the first enabled "deb" source carrying SUITE with component "main", from
# one-line *.list files and deb822 *.sources files (the only names apt itself reads); prints
# nothing when there is none.

debian_configured_mirror() {
    local suite="$1"
    local files=()
    local file
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f "${file}" ]] && files+=("${file}")
    done
    [[ ${#files[@]} -gt 0 ]] || return 0
    awk -v suite="${suite}" '
        function flush() {
            if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && uris != "" &&
                (" " suites " ") ~ (" " suite " ") && (" " comps " ") ~ / main /) {
                split(uris, list, /[ \t]+/)
                print list[1]
                found = 1
                exit
            }
            types = ""; uris = ""; suites = ""; comps = ""; enabled = ""
        }
        FNR == 1 { if (deb822) flush(); deb822 = (FILENAME ~ /\.sources$/) }
        /^[ \t]*#/ { next }
        deb822 {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            line = $0
            key = tolower(line); sub(/:.*/, "", key)
            sub(/^[^:]*:[ \t]*/, "", line)
            gsub(/[ \t]+/, " ", line)
            if (key == "types") types = line
            else if (key == "uris") uris = line
            else if (key == "suites") suites = line
            else if (key == "components") comps = line
            else if (key == "enabled") enabled = tolower(line)
            next
        }
        {
            # one-line style: deb [options] uri suite component...
            line = $0
            sub(/#.*/, "", line)
            if (line !~ /^[ \t]*deb[ \t]/) next
            gsub(/\[[^]]*\]/, "", line)
            n = split(line, f, /[ \t]+/)
            i = (f[1] == "") ? 2 : 1
            if (f[i] != "deb" || n < i + 3) next
            comps = ""
            for (j = i + 3; j <= n; j++) comps = comps " " f[j]
            if (f[i + 2] == suite && (comps " ") ~ / main /) { print f[i + 1]; found = 1; exit }
        }
        END { if (!found && deb822) flush() }
    ' "${files[@]}"
}

# Run as a script: print the mirror for the suite given as the first argument.
if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
    set -euo pipefail
    [[ $# -eq 1 ]] || {
        echo "usage: $0 SUITE" >&2
        exit 2
    }
    debian_configured_mirror "$1"
fi
