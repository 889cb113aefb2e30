-- wrk script: POST /jobs with a small FITS image as a multipart upload (job created PENDING,
-- no PHASE=RUN, so the bound on queued jobs never applies). The FITS file (64 x 48, BITPIX 8,
-- 5760 bytes) is built here so that the benchmark needs no data file.
local function card(s)
    return s .. string.rep(" ", 80 - #s)
end

local function small_fits()
    local h = card("SIMPLE  =                    T") .. card("BITPIX  =                    8")
        .. card("NAXIS   =                    2") .. card("NAXIS1  =                   64")
        .. card("NAXIS2  =                   48") .. card("END")
    h = h .. string.rep(" ", 2880 - #h)
    local px = {}
    for i = 1, 64 * 48 do
        px[i] = string.char((i * 13) % 256)
    end
    local d = table.concat(px)
    return h .. d .. string.rep("\0", 2880 - #d % 2880)
end

local model = os.getenv("OTF_BENCH_MODEL") or "tiny"
local boundary = "otfbench7d3f9a"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
    .. "Content-Disposition: form-data; name=\"MODEL\"\r\n\r\n" .. model .. "\r\n"
    .. "--" .. boundary .. "\r\n"
    .. "Content-Disposition: form-data; name=\"image\"; filename=\"bench.fits\"\r\n"
    .. "Content-Type: application/fits\r\n\r\n" .. small_fits() .. "\r\n"
    .. "--" .. boundary .. "--\r\n"

local other = 0
function response(status, headers, body)
    if status ~= 303 then
        other = other + 1
        if other <= 3 then
            io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
        end
    end
end
