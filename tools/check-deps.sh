#!/usr/bin/env bash
# Fails when a module includes a header of a module it may not depend on (STYLE §2), or any
# other module's private *_int.h header.
set -euo pipefail
cd "$(dirname "$0")/.."

# module -> modules it may include (besides itself)
declare -A allow=(
    [core]=""
    [fits]="core"
    [model]="core"
    [uws]="core"
    [sched]="core"
    [engine]="model core"
    [detect]="engine model fits core"
    [formats]="detect fits model core"
    [store]="uws core"
    [client]="uws core"
    [worker]="sched detect engine model fits formats store uws core"
    [http]="uws store sched core formats"
    [apps]="*"
)

bad=0
while IFS= read -r -d '' f; do
    rel=${f#src/}
    mod=${rel%%/*}
    [ "$mod" = apps ] && continue
    sub=${rel#*/}
    # engine backends may reach only engine/backend.h (and engine_int.h of the engine itself)
    while IFS= read -r inc; do
        target=${inc%%/*}
        [ "$target" = "$mod" ] && continue
        case " ${allow[$mod]:-} " in
        *" $target "*) ;;
        *)
            echo "check-deps: $f includes \"$inc\": $mod may not depend on $target" >&2
            bad=1
            ;;
        esac
        case "$inc" in
        *_int.h)
            echo "check-deps: $f includes foreign private header \"$inc\"" >&2
            bad=1
            ;;
        esac
    done < <(grep -oE '^#include "[a-z_-]+/[^"]+"' "$f" | sed -E 's/#include "(.*)"/\1/' | grep -v '^otf/' || true)
    : "$sub"
done < <(find src -name '*.[ch]' -print0)

# Only the backend registry may test OTF_WITH_CUDA (STYLE §2).
if grep -rn --include='*.[ch]' -E '#\s*if.*OTF_WITH_CUDA' src | grep -v 'src/engine/engine_registry.c' >&2; then
    echo "check-deps: OTF_WITH_CUDA tested outside the backend registry" >&2
    bad=1
fi
exit $bad
