"""
The servers' command lines: both binaries' option tables with the real defaults, and
TCLAP's parsing of them (its errors, --help and --version). Citations use the short source
names listed in the package docstring (__init__.py).
"""

import re

# (name, TCLAP type, default, where the real binary declares it)
OPTIONS_2PASS = (
    ("download-model-dir", "string", "/workspace/models", "funasr-wss-server-2pass.cpp:41-44"),
    ("model-dir", "string", "damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-onnx",
     "funasr-wss-server-2pass.cpp:45-49"),
    ("online-model-dir", "string",
     "damo/speech_paraformer-large_asr_nat-zh-cn-16k-common-vocab8404-online-onnx",
     "funasr-wss-server-2pass.cpp:50-54"),
    ("offline-model-revision", "string", "v2.0.5", "funasr-wss-server-2pass.cpp:56-58"),
    ("online-model-revision", "string", "v2.0.5", "funasr-wss-server-2pass.cpp:60-62"),
    ("quantize", "string", "true", "funasr-wss-server-2pass.cpp:64-69"),
    ("vad-dir", "string", "damo/speech_fsmn_vad_zh-cn-16k-common-onnx", "funasr-wss-server-2pass.cpp:70-74"),
    ("vad-revision", "string", "v2.0.4", "funasr-wss-server-2pass.cpp:75-76"),
    ("vad-quant", "string", "true", "funasr-wss-server-2pass.cpp:77-81"),
    ("punc-dir", "string", "damo/punc_ct-transformer_zh-cn-common-vad_realtime-vocab272727-onnx",
     "funasr-wss-server-2pass.cpp:82-86"),
    ("punc-revision", "string", "v2.0.5", "funasr-wss-server-2pass.cpp:87-88"),
    ("punc-quant", "string", "true", "funasr-wss-server-2pass.cpp:89-94"),
    ("itn-dir", "string", "thuduj12/fst_itn_zh", "funasr-wss-server-2pass.cpp:95-99"),
    ("itn-revision", "string", "v1.0.1", "funasr-wss-server-2pass.cpp:100-101"),
    ("listen-ip", "string", "0.0.0.0", "funasr-wss-server-2pass.cpp:103-104"),
    ("port", "int", 10095, "funasr-wss-server-2pass.cpp:105"),
    ("io-thread-num", "int", 2, "funasr-wss-server-2pass.cpp:106-107"),
    ("decoder-thread-num", "int", 8, "funasr-wss-server-2pass.cpp:108-109"),
    ("model-thread-num", "int", 2, "funasr-wss-server-2pass.cpp:110-111"),
    ("certfile", "string", "../../../ssl_key/server.crt", "funasr-wss-server-2pass.cpp:113-117"),
    ("keyfile", "string", "../../../ssl_key/server.key", "funasr-wss-server-2pass.cpp:118-122"),
    ("global-beam", "float", 3.0, "funasr-wss-server-2pass.cpp:124"),
    ("lattice-beam", "float", 3.0, "funasr-wss-server-2pass.cpp:125"),
    ("am-scale", "float", 10.0, "funasr-wss-server-2pass.cpp:126"),
    ("lm-dir", "string", "damo/speech_ngram_lm_zh-cn-ai-wesp-fst", "funasr-wss-server-2pass.cpp:128-129"),
    ("lm-revision", "string", "v1.0.2", "funasr-wss-server-2pass.cpp:130-131"),
    ("hotword", "string", "/workspace/resources/hotwords.txt", "funasr-wss-server-2pass.cpp:132-134"),
    ("fst-inc-wts", "int", 20, "funasr-wss-server-2pass.cpp:135-136"),
)
OPTIONS_OFFLINE = (
    ("download-model-dir", "string", "/workspace/models", "funasr-wss-server.cpp:42-45"),
    ("model-dir", "string", "/workspace/models/asr", "funasr-wss-server.cpp:46-49"),
    ("model-revision", "string", "v2.0.5", "funasr-wss-server.cpp:50-53"),
    ("quantize", "string", "true", "funasr-wss-server.cpp:54-58"),
    ("bladedisc", "string", "true", "funasr-wss-server.cpp:59-62"),
    ("vad-dir", "string", "/workspace/models/vad", "funasr-wss-server.cpp:63-66"),
    ("vad-revision", "string", "v2.0.6", "funasr-wss-server.cpp:67-70"),
    ("vad-quant", "string", "true", "funasr-wss-server.cpp:71-75"),
    ("punc-dir", "string", "/workspace/models/punc", "funasr-wss-server.cpp:76-80"),
    ("punc-revision", "string", "v2.0.5", "funasr-wss-server.cpp:81-84"),
    ("punc-quant", "string", "true", "funasr-wss-server.cpp:85-89"),
    ("itn-dir", "string", "thuduj12/fst_itn_zh", "funasr-wss-server.cpp:90-94"),
    ("itn-revision", "string", "v1.0.1", "funasr-wss-server.cpp:95-96"),
    ("listen-ip", "string", "0.0.0.0", "funasr-wss-server.cpp:98-99"),
    ("port", "int", 10095, "funasr-wss-server.cpp:100"),
    ("io-thread-num", "int", 2, "funasr-wss-server.cpp:101-102"),
    ("decoder-thread-num", "int", 8, "funasr-wss-server.cpp:103-104"),
    ("model-thread-num", "int", 1, "funasr-wss-server.cpp:105-106"),
    ("certfile", "string", "../../../ssl_key/server.crt", "funasr-wss-server.cpp:108-110"),
    ("keyfile", "string", "../../../ssl_key/server.key", "funasr-wss-server.cpp:111-113"),
    ("global-beam", "float", 3.0, "funasr-wss-server.cpp:115"),
    ("lattice-beam", "float", 3.0, "funasr-wss-server.cpp:116"),
    ("am-scale", "float", 10.0, "funasr-wss-server.cpp:117"),
    ("lm-dir", "string", "damo/speech_ngram_lm_zh-cn-ai-wesp-fst", "funasr-wss-server.cpp:119-120"),
    ("lm-revision", "string", "v1.0.2", "funasr-wss-server.cpp:121-122"),
    ("hotword", "string", "/workspace/resources/hotwords.txt", "funasr-wss-server.cpp:123-125"),
    ("fst-inc-wts", "int", 20, "funasr-wss-server.cpp:126-127"),
    ("gpu", "switch", False, "funasr-wss-server.cpp:128 (TCLAP::SwitchArg: takes no value)"),
    ("batch-size", "int", 4, "funasr-wss-server.cpp:129"),
)
OPTION_TABLES = {"2pass": OPTIONS_2PASS, "offline": OPTIONS_OFFLINE}
# the file of each binary's main(), which declares its options and logs its start
MAIN = {"2pass": "funasr-wss-server-2pass.cpp", "offline": "funasr-wss-server.cpp"}


class ParseError(Exception):
    """TCLAP's ArgException: ``argid`` ("" when undefined) and ``error``."""

    def __init__(self, error, argid=""):
        super().__init__(error)
        self.error, self.argid = error, argid


class HelpOrVersion(Exception):
    def __init__(self, text):
        super().__init__(text)
        self.text = text


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def tclap_extract(text, kind):
    """TCLAP's ExtractValue for ValueLike types (tclap/Arg.h:406-434): ``istringstream >>``
    until EOF; a failed read -> "Couldn't read ...", two reads -> "More than one ...".
    An empty string reads nothing and keeps the default (returns None)."""
    pattern, convert = (_INT, int) if kind == "int" else (_FLOAT, float)
    position, values, failed, value = 0, 0, False, None
    while position < len(text):  # is.good() and is.peek() != EOF
        while position < len(text) and text[position].isspace():
            position += 1
        match = pattern.match(text, position) if position < len(text) else None
        values += 1
        if not match:
            failed = True
            break
        value = convert(match.group())
        if kind == "int" and not -2**31 <= value < 2**31:  # operator>> overflow sets failbit
            failed = True
            break
        position = match.end()
    if failed:
        raise ParseError(f"Couldn't read argument value from string '{text}'")
    if values > 1:
        raise ParseError(f"More than one valid value parsed from string '{text}'")
    return value


def parse_options(kind, args, prog="funasr-wss-server"):
    """TCLAP CmdLine::parse (tclap/CmdLine.h:457-530) of ``args`` (without argv[0]).

    Returns ``(values, given)``: ``{name: typed value}`` and the names set on the command
    line (TCLAP's isSet()). Raises `ParseError` (the real binary prints it and exits 1) or
    `HelpOrVersion` (exit 0).

    - The CmdLine is built with delimiter ' ' (funasr-wss-server-2pass.cpp:40,
      funasr-wss-server.cpp:41), so ``--name value`` works as two argv elements or as ONE
      element "--name value" (tclap/Arg.h:611-627 trimFlag splits at the delimiter), and
      ``--name=value`` is NOT an option: "Couldn't find match for argument".
    - A value option takes the next element whatever it is, "" included
      (tclap/ValueArg.h:364-372); none left -> "Missing a value for this argument!".
    - An option given twice -> "Argument already set!" (tclap/ValueArg.h:350-358).
    - A switch (--gpu) matches only the exact element (tclap/SwitchArg.h:236).
    - "--" ignores the rest; -h/--help and --version print and exit 0 (tclap/CmdLine.h:379-396).
    """
    table = {name: (typ, default) for name, typ, default, _ in OPTION_TABLES[kind]}
    values = {name: default for name, (_, default) in table.items()}
    given = set()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            break
        if arg in ("-h", "--help"):
            raise HelpOrVersion(usage(kind, prog))
        if arg == "--version":
            raise HelpOrVersion(f"\n{prog}  version: \n")
        flag, value = arg, None
        stop = arg.find(" ")
        if stop > 1:
            flag, value = arg[:stop], arg[stop + 1:]
        name = flag[2:] if flag.startswith("--") else None
        if name not in table or "\x07" in arg[1:]:
            raise ParseError("Couldn't find match for argument", arg)
        typ, _ = table[name]
        if typ == "switch":
            if value is not None:
                raise ParseError("Couldn't find match for argument", arg)
            if name in given:
                raise ParseError("Argument already set!", f"(--{name})")
            values[name] = True
            given.add(name)
            index += 1
            continue
        if name in given:
            raise ParseError("Argument already set!", f"(--{name})")
        if value is None or value == "":
            index += 1
            if index >= len(args):
                raise ParseError("Missing a value for this argument!", f"(--{name})")
            value = args[index]
        if typ == "string":
            values[name] = value
        else:
            try:
                parsed = tclap_extract(value, typ)
            except ParseError as error:  # tclap/ValueArg.h:405-411 adds the argument's id
                raise ParseError(error.error, f"(--{name})") from None
            if parsed is not None:
                values[name] = parsed
        given.add(name)
        index += 1
    return values, given


def usage(kind, prog):
    short = " ".join(f"[--{name}{'' if typ == 'switch' else f' <{typ}>'}]"
                     for name, typ, _, _ in OPTION_TABLES[kind])
    return f"\nUSAGE: \n\n   {prog}  {short} [--] [--version] [-h]\n"


def tclap_failure(error, prog, kind):
    """StdOutput::failure's text (tclap/StdOutput.h:132-154); the binary then exits 1."""
    argid = f"Argument: {error.argid}" if error.argid else " "
    return (f"PARSE ERROR: {argid}\n             {error.error}\n\nBrief USAGE: \n"
            f"{usage(kind, prog).splitlines()[3]}\n\nFor complete USAGE and HELP type: \n"
            f"   {prog} --help\n")
