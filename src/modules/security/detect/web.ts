import type { Finding } from './types.js';

/**
 * XSS by reading the value as HTML the way a browser would start to: a tag the browser
 * executes or loads from, an event-handler attribute, a script URL, or a break out of an
 * attribute or a script string. Markdown's <b>, <em> and `code` are not any of these.
 */

const EXECUTING_TAGS =
  /<\s*\/?\s*(script|iframe|frame|frameset|object|embed|applet|svg|math|base|meta|link|style|xml|xss|form|isindex|template|portal|noscript|vmlframe|import|set|animate|handler|listener)\b/i;
const EVENT_HANDLER =
  /(?:^|[\s"'`/;<>=]|\\|\))on(?:error|load|click|dblclick|auxclick|mouse[a-z]*|pointer[a-z]*|focus[a-z]*|blur|change|submit|reset|key[a-z]+|animation[a-z]+|transition[a-z]+|toggle|begin|end|repeat|start|finish|bounce|before[a-z]+|after[a-z]+|hashchange|page[a-z]+|popstate|resize|scroll[a-z]*|wheel|input|invalid|search|select[a-z]*|drag[a-z]*|drop|paste|copy|cut|contextmenu|play[a-z]*|pause|ended|readystatechange|message|unload|show|touch[a-z]+|volumechange|seek[a-z]*|canplay[a-z]*|durationchange|load[a-z]+|progress|abort|emptied|stalled|suspend|timeupdate|waiting|ratechange|fullscreen[a-z]+|formdata|storage|online|offline|cuechange|activate|deactivate|help|propertychange|filterchange|layoutcomplete|losecapture|mousewheel|move[a-z]*|resize[a-z]*|afterscriptexecute|beforescriptexecute|securitypolicyviolation|content[a-z]+)\s*=/i;
const SCRIPT_URL =
  /(?:java|vb|live)script\s*:|data\s*:\s*(?:text\/html|image\/svg|application\/(?:x-)?(?:javascript|ecmascript|xhtml))|mocha\s*:|-moz-binding|expression\s*\(|\bsrcdoc\s*=|\bformaction\s*=|\bxlink:href\s*=|\bbehavior\s*:\s*url/i;
const TAG_WITH_ATTRIBUTES =
  /<\s*[a-z][a-z0-9-]*[\s/][^>]*?(?:src|href|action|data|style|background|dynsrc|lowsrc|poster|code|codebase)\s*=/i;
const JS_BREAKOUT =
  /['"`]\s*[-+*/;,)|&]?\s*[-+*/;,|&]\s*(?:alert|prompt|confirm|eval|print|fetch|import|document\.\w+|window\.\w+|top\[|self\[|this\[)\s*[([`]/i;
const SINK =
  /\b(?:alert|prompt|confirm)\s*(?:\(|`)|document\s*\.\s*(?:cookie|domain|write|location)|window\s*\.\s*location|\.innerhtml\s*=|String\s*\.\s*fromCharCode\s*\(|\batob\s*\(|top\s*\[\s*['"`]|\bon\w+\s*=\s*(?:alert|prompt|confirm|eval)/i;

export function detectXss(text: string): Finding | undefined {
  const hasAngle = text.includes('<');
  if (hasAngle && EXECUTING_TAGS.test(text)) return { type: 'xss', severity: 'high', rule: 'xss.executing_tag' };
  if (text.includes('=') && EVENT_HANDLER.test(text))
    return { type: 'xss', severity: 'high', rule: 'xss.event_handler' };
  if (text.includes(':') || text.includes('(') || text.includes('=')) {
    // Browsers drop tabs and line breaks inside a URL: java\nscript: is javascript:.
    const compact = /[\t\r\n]/.test(text) ? text.replace(/[\t\r\n]/g, '') : text;
    if (SCRIPT_URL.test(compact)) return { type: 'xss', severity: 'high', rule: 'xss.script_url' };
  }
  if (hasAngle && TAG_WITH_ATTRIBUTES.test(text) && SINK.test(text))
    return { type: 'xss', severity: 'high', rule: 'xss.tag_with_sink' };
  if (JS_BREAKOUT.test(text)) return { type: 'xss', severity: 'high', rule: 'xss.script_breakout' };
  if ((hasAngle || text.includes('"') || text.includes("'")) && SINK.test(text) && /[<>"'`]/.test(text))
    return { type: 'xss', severity: 'medium', rule: 'xss.script_sink' };
  return undefined;
}

const SENSITIVE_PATH =
  /(?:^|[/\\])(?:etc[/\\](?:passwd|shadow|group|hosts|issue|hostname|sudoers|crontab|ssh[/\\]|mysql[/\\]|nginx[/\\]|apache2?[/\\]|httpd[/\\])|proc[/\\](?:self|\d+)[/\\]|(?:var|usr)[/\\](?:log|www|lib|local)[/\\]|root[/\\]|home[/\\][^/\\]+[/\\]\.|boot\.ini|win\.ini|system\.ini|windows[/\\](?:system32|win\.ini|repair)|winnt[/\\]|inetpub[/\\]|web\.config|\.htaccess|\.htpasswd|\.env\b|\.git[/\\]|\.ssh[/\\]|\.aws[/\\]|id_rsa|wp-config\.php|config\.php|\.bash_history|dev[/\\](?:tcp|null|random)|sys[/\\](?:class|kernel)|(?:var[/\\])?run[/\\]secrets[/\\]|panther[/\\]unattend|\.kube[/\\]config|\.docker[/\\]config|\.npmrc|\.git-credentials)/i;
const TRAVERSAL = /(?:^|[/\\=:])\.\.[/\\]|[/\\]\.\.(?:[/\\]|$)|^\.\.$/;
const ABSOLUTE_SYSTEM =
  /^(?:[/\\]+(?:etc|proc|var|usr|root|home|windows|winnt|boot|sys|dev|bin|tmp|run|app|srv|opt)[/\\]|[a-z]:[/\\]+(?:windows|winnt|boot|inetpub|program|users)|file:[/\\]{2})/i;

/**
 * Path traversal: a walk up ("../") together with a file worth stealing, two or more walks up,
 * or an absolute system path. A single "../" in prose is allowed; in a URL path or query it is
 * refused by the caller's location rule.
 */
export function detectTraversal(text: string): Finding | undefined {
  // One separator, no "./" steps, Tomcat's "..;/" as "../".
  const unified = (text.includes('\\') ? text.replace(/\\/g, '/') : text)
    .replace(/\.\.;/g, '..')
    .replace(/\/(?:\.\/)+/g, '/')
    .replace(/([^:/])\/{2,}/g, '$1/');
  if (/^\/\/(?:\?|\.|[\w.-]+)\/(?:[a-z]\$|\w+\$)/i.test(unified) || /^\/\/\?\/[a-z]:/i.test(unified))
    return { type: 'path_traversal', severity: 'high', rule: 'traversal.unc_path' };
  if (/^file:\/{0,3}[a-z/]/i.test(unified) && SENSITIVE_PATH.test(unified.replace(/^file:\/*/i, '/')))
    return { type: 'path_traversal', severity: 'critical', rule: 'traversal.sensitive_file' };
  if (/^~[a-z_]*\/\.|^~[a-z_]*\/.*(?:id_rsa|\.ssh|\.bash_history|\.aws|\.env)/i.test(unified))
    return { type: 'path_traversal', severity: 'high', rule: 'traversal.home_file' };
  const up = unified.includes('..') ? (unified.match(/(?:^|\/)\.\.(?:\/|$)|\.\.\//g)?.length ?? 0) : 0;
  if (up > 0 && SENSITIVE_PATH.test(unified))
    return { type: 'path_traversal', severity: 'critical', rule: 'traversal.sensitive_file' };
  if (up >= 2 || (up === 1 && /^\.\.\//.test(unified)))
    return { type: 'path_traversal', severity: 'high', rule: 'traversal.dot_dot' };
  if (ABSOLUTE_SYSTEM.test(unified) && SENSITIVE_PATH.test(unified))
    return { type: 'path_traversal', severity: 'high', rule: 'traversal.absolute_path' };
  if (up === 1 && TRAVERSAL.test(unified)) return { type: 'path_traversal', severity: 'low', rule: 'traversal.single' };
  return undefined;
}

const COMMANDS =
  'cat|tac|head|tail|more|less|id|whoami|uname|hostname|ifconfig|ipconfig|ip\\s+a|netstat|ps|ls|dir|pwd|curl|wget|nc|ncat|netcat|socat|telnet|bash|sh|zsh|ksh|dash|csh|python[23]?|perl|php|ruby|node|lua|ping|sleep|timeout|nslookup|dig|host|echo|printf|powershell|pwsh|cmd|cmd\\.exe|rm|mv|cp|chmod|chown|mkfifo|mknod|busybox|base64|env|printenv|set|type|systeminfo|net\\s+user|whoami\\.exe|certutil|bitsadmin|mshta|rundll32|regsvr32|wmic|xterm|awk|sed|find|grep|expr|uptime|w|who|last|crontab|useradd|passwd|sudo|su|kill|pkill|shutdown|reboot|tftp|ftp|scp|ssh|openssl|gcc|eval|exec|sort|uniq|od|xxd|dd|tee|touch|true|false|ver';
// A shell separator, then a command that stands alone, takes a flag or a path, or pipes on.
const CHAINED = new RegExp(
  `(?:[;&|\\n\\r]|\\$\\(|(?<![\\s\`])\`(?!\`)|\\|\\||&&)\\s*(?:[\\\\/]?(?:usr/)?(?:s?bin/)?)(?:${COMMANDS})(?:\\.exe)?(?=$|\\s*[;&|\`)#\\n<>]|\\s+-{1,2}[a-z]|\\s+[/\\\\~$.]|\\s+\\d+\\s*(?:$|[;&|\`)#])|\\s*\\$\\{IFS\\}|\\s+['"]?(?:https?|ftp)://|\\s+\\w+\\s*(?:$|[;|&\`)#])|\\s+[\\w.-]+\\.[a-z]{2,}\\b|\\s+[a-z]:[\\\\/])`,
  'i',
);
const SHELL_FORMS =
  /\$\{IFS\}|\$IFS\b|\w\$@\w|\$IFS\$\d|\/dev\/(?:tcp|udp)\/|\b(?:bash|sh|zsh)\s+-[ci]\b|\bnc(?:at)?\s+(?:-[a-z]+\s+)*(?:\d{1,3}\.){3}\d{1,3}|\bcurl\s+(?:-[a-z]+\s+)*['"]?https?:\/\/[^\s]+\s*\|\s*(?:ba)?sh|\bwget\s+.*-O\s*-?\s*\|\s*(?:ba)?sh|>\s*\/(?:tmp|var|etc|dev)\/|<\s*\/etc\/|\bchmod\s+[0-7+x]+\s+\/|`[^`]*\b(?:id|whoami|uname|cat|ls|sleep|ping|curl|wget)\b[^`]*`|\$\((?:[^)]*\b(?:id|whoami|uname|cat|ls|sleep|ping|curl|wget|nslookup)\b[^)]*)\)|\bping\s+-[cn]\s+\d+|\bsleep\s+\d+\s*[;&|`#]|%0a\s*(?:id|cat|ls)/i;

// Commands no one types after a separator in prose: any arguments will do.
const STRONG_CHAINED =
  /(?:[;&|\n\r]|\$\(|(?<![\s`])`(?!`))\s*(?:[\\/]?(?:usr\/)?(?:s?bin\/)?)(?:whoami|uname|ifconfig|ipconfig|nslookup|netcat|ncat|socat|powershell|pwsh|certutil|bitsadmin|tasklist|taskkill|systeminfo|net\s+(?:user|localgroup)|mkfifo|busybox|wget|curl|telnet|xterm|rundll32|regsvr32|mshta|wmic|cmd(?:\.exe)?\s+\/c|bash\s+-[ci]|sh\s+-[ci]|kill\s+-\d|chmod\s+[0-7+]|rm\s+-[rf]{1,2}|cat\s+\/|ls\s+-[a-z]+|type\s+[a-z]:|dir\s+[a-z]:|ping\s+-[cn]|crontab\s+-|xargs\s+-|expr\s+\d)\b/i;
const GLOB_OR_BRACE =
  /[;&|`]\s*(?:\/(?:[\w.]*\/)*[\w.]*[?*][\w?*./]*(?:\s|$)|\{(?:cat|ls|id|whoami|uname|wget|curl|nc|bash|sh|echo|ping|sleep),)|(?:^|[;&|])\s*\w+=[^;\s&|]*;\s*\w+=[^;\s&|]*;\s*\$\w+\$\w+/i;

export function detectCommand(text: string): Finding | undefined {
  if (SHELL_FORMS.test(text)) return { type: 'command_injection', severity: 'critical', rule: 'cmd.shell_form' };
  if (!/[;&|\n\r`]|\$\(/.test(text)) return undefined;
  // c'a't, w"h"oami, c\at: quotes and backslashes inside a word vanish in a shell.
  const unquoted = /\w['"\\]+\w/.test(text) ? text.replace(/(?<=\w)['"\\]+(?=\w)/g, '') : text;
  for (const candidate of unquoted === text ? [text] : [text, unquoted]) {
    if (STRONG_CHAINED.test(candidate) || CHAINED.test(candidate) || GLOB_OR_BRACE.test(candidate))
      return { type: 'command_injection', severity: 'critical', rule: 'cmd.chained_command' };
  }
  return undefined;
}

const CODE = [
  [
    /\brequire\s*\(\s*['"`](?:child_process|fs|net|vm|os|http|process|module)['"`]\s*\)|\bchild_process\b|\bprocess\s*\.\s*(?:mainModule|binding|dlopen|kill|exit|env\b|version)/i,
    'code.node_internals',
  ],
  [
    /\b(?:global|globalThis)\s*\.\s*process|\bimport\s*\(\s*['"`]|\bnew\s+Function\s*\(|\bFunction\s*\(\s*['"`]|\beval\s*\(\s*['"`(a-z]|\bsetTimeout\s*\(\s*['"`]|\bsetInterval\s*\(\s*['"`]/i,
    'code.dynamic_code',
  ],
  [
    /\bconstructor\s*(?:\.\s*constructor|\[\s*['"`]?\s*prototype|\[\s*['"`]|\.\s*prototype)|['"]constructor['"]\s*:\s*\{\s*['"]prototype|constructor['"]?prototype|__proto__|\bprototype\s*\[\s*['"`]|\bObject\s*\.\s*(?:defineProperty|setPrototypeOf|assign)\s*\(\s*(?:Object|this|\{\})|^prototype\s*[[.]|\bObject\.prototype\.\w/i,
    'code.prototype_access',
  ],
  [
    /\{\{[^{}]{0,200}?(?:constructor|__class__|__globals__|__builtins__|__import__|__init__|__mro__|__subclasses__|_self|config\.|request\.|self\.|lipsum|cycler|joiner|namespace|range\s*\(|\d+\s*[*+]\s*\d+|\[\s*['"`]|['"`]\s*\]|\|\s*attr|\.\s*(?:exec|eval|popen|system))[^{}]{0,200}\}\}|\{%[^%]{0,200}(?:import|include|exec|eval|set|for|if)\b[^%]{0,200}%\}/i,
    'code.template_injection',
  ],
  [
    /\$\{\s*(?:\d+\s*[*+/-]\s*\d+|jndi:|env:|sys:|java:|lower:|upper:|date:|ctx:|main:|base64:|script:|T\s*\(|@|new\s|Runtime|self|process|global|this|constructor|require|''\.|[a-z]+\s*\()|#\{\s*(?:\d+\s*[*+/-]\s*\d+|T\s*\(|@|new\s|system|`|%x|File\.|IO\.|Kernel|self|\[)|<%=?\s*(?:\d+\s*[*+]\s*\d+|[^%]{0,200}(?:system|exec|eval|File|IO|Runtime|request|require|process|`))[^%]{0,200}%>|\*\{[^}]*T\s*\(|@\{[^}]*(?:T\s*\(|new\s)/i,
    'code.expression_injection',
  ],
  [
    /\bjava\.lang\.(?:Runtime|ProcessBuilder|System|Class)|Runtime\s*\.\s*getRuntime|\bProcessBuilder\s*\(|@java\.lang|#_memberAccess|#context\[|ognl\.|\bclass\.module\.classLoader|\bjavax?\.script\.ScriptEngineManager|\bT\s*\(\s*java\./i,
    'code.java_expression',
  ],
  [
    /\b(?:__import__|os\.(?:system|popen|exec\w*|spawn\w*)|subprocess\.\w+|pickle\.loads|marshal\.loads|builtins\.\w+)\s*\(|\bimport\s+(?:os|subprocess|socket|pty)\b|\b(?:passthru|shell_exec|proc_open|popen|pcntl_exec|assert|system|exec|phpinfo|file_get_contents|file_put_contents|base64_decode|gzinflate|str_rot13|call_user_func|create_function|preg_replace)\s*\(\s*[$'"`a-z(]|<\?(?:php|=)|\bphp:\/\/(?:input|filter)|\bexpect:\/\//i,
    'code.script_functions',
  ],
  [
    /\{\{\s*(?:self|config|request|settings|app|g|url_for|get_flashed_messages|lipsum|cycler|joiner|namespace|range|''|"")\b[^}]*\}\}|[$#*@%]?\{\{?%?\s*\d+\s*\*\s*['"]?\d+['"]?\s*%?\}\}?|\[\[\s*\d+\s*\*\s*\d+\s*\]\]|%x[({]|@\{[^}]*\(|\?new\s*\(|freemarker\.template|\.__class__|__(?:bases|subclasses|globals|builtins|mro|init)__|!!python\/|!!js\/function|\bopen\s*\(\s*['"]\/|\breturn\s+process\b|System\.Diagnostics\.Process|Process\.Start\s*\(|['"]?\$(?:where|ne|gt|gte|lt|lte|regex|nin|expr|function|accumulator)['"]?\s*:|\$\{\s*\$\{|\$\{::-|(?:\$?\{\{|\{%|<%=?)\s*['"][^'"]*['"]\s*\.\s*\w+\s*\(/i,
    'code.template_injection',
  ],
] as const satisfies readonly (readonly [RegExp, string])[];

export function detectCode(text: string): Finding | undefined {
  for (const [pattern, rule] of CODE) {
    if (pattern.test(text)) return { type: 'code_injection', severity: 'critical', rule };
  }
  return undefined;
}

const URL_IN_TEXT = /(?:\b([a-z][a-z0-9+.-]{1,15}):|(?:^|[\s"'=(]))\/\/(?:[^\s/?#@]*@)?(\[[^\]]*\]|[^\s/?#:'"<>]+)/gi;
const LOOSE_INTERNAL_URL =
  /\bhttps?:(?:\/|\\){0,2}(?:[^\s/@]{0,100}[@\\]+)?(?:127\.|localhost\b|0\.0\.0\.0|169\.254\.|10\.\d|192\.168\.|\[?::1\]?)|\bhttps?:\/\/[^\s#@\\]{0,200}[#@\\]@?(?:127\.|localhost\b|169\.254\.|0\.0\.0\.0|10\.\d|192\.168\.|metadata)|^(?:\\\\|\/\/)(?:127\.|localhost\b)/i;
const SCHEME_WITHOUT_SLASHES = /\b(?:jar|netdoc|phar|gopher|dict|ldap|tftp|expect|glob|zip|rar|ogg|ssh2|file):(?!\s)/i;
const DANGEROUS_SCHEMES = new Set([
  'gopher',
  'dict',
  'file',
  'ldap',
  'ldaps',
  'tftp',
  'jar',
  'netdoc',
  'phar',
  'expect',
  'sftp',
  'smb',
  'rmi',
  'jdbc',
  'mysql',
  'redis',
  'zookeeper',
  'glob',
  'ogg',
  'ssh2',
  'rar',
  'zip',
]);
const INTERNAL_HOST =
  /^(?:localhost|localhost\.localdomain|ip6-localhost|ip6-loopback|0|0\.0\.0\.0|127(?:\.\d{1,3}){0,3}|10(?:\.\d{1,3}){3}|192\.168(?:\.\d{1,3}){2}|172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2}|169\.254(?:\.\d{1,3}){2}|100\.100\.100\.200|fd[0-9a-f]{2}:.*|fe80:.*|::1?|0:0:0:0:0:0:0:[01]|::ffff:.*|(?:0{1,4}:){5}ffff:.*|(?:0{1,4}:){1,7}0{0,3}1?|metadata|metadata\.google\.internal|metadata\.azure\.com|instance-data|kubernetes(?:\.default)?(?:\.svc)?|(?:[^.]+\.)*internal|[^.]+\.local|[^.]+\.localhost|.*\.(?:nip|xip|sslip)\.io|0{1,4}::0{0,3}1?|localtest\.me|lvh\.me|vcap\.me|spoofed\.burpcollaborator\.net)$/i;
// 2130706433, 0x7f000001, 0177.0.0.1: numbers a URL parser turns into an address.
const ENCODED_IP =
  /^(?:\d{8,10}|0[0-7]{8,12}|0x[0-9a-f]{1,8}|(?:0[0-7]*|0x[0-9a-f]+|\d+)(?:\.(?:0[0-7]*|0x[0-9a-f]+|\d+)){1,3})$/i;

/** A URL in the value that points inside our network or uses a scheme a fetcher should never follow. */
export function detectSsrf(text: string): Finding | undefined {
  if (SCHEME_WITHOUT_SLASHES.test(text)) return { type: 'ssrf', severity: 'high', rule: 'ssrf.scheme' };
  // Parser confusion: http:127.0.0.1, http:\\127.0.0.1, a@ or #@ before an internal address.
  if (LOOSE_INTERNAL_URL.test(text)) return { type: 'ssrf', severity: 'high', rule: 'ssrf.internal_host' };
  if (!text.includes('//')) return undefined;
  URL_IN_TEXT.lastIndex = 0;
  for (let match = URL_IN_TEXT.exec(text); match; match = URL_IN_TEXT.exec(text)) {
    const scheme = (match[1] ?? 'http').toLowerCase();
    const host = (match[2] as string)
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '');
    if (DANGEROUS_SCHEMES.has(scheme)) return { type: 'ssrf', severity: 'high', rule: 'ssrf.scheme' };
    if (INTERNAL_HOST.test(host)) return { type: 'ssrf', severity: 'high', rule: 'ssrf.internal_host' };
    // A host without a dot (redis, postgres, metadata) is a name on our own network.
    if (!host.includes('.') && !host.includes(':') && /^[a-z][a-z0-9-]*$/.test(host))
      return { type: 'ssrf', severity: 'high', rule: 'ssrf.internal_host' };
    if (ENCODED_IP.test(host) && !/^\d{1,3}(?:\.\d{1,3}){3}$/.test(host))
      return { type: 'ssrf', severity: 'high', rule: 'ssrf.encoded_address' };
  }
  return undefined;
}

const SCANNERS =
  /sqlmap|nikto|nmap|masscan|zgrab|nuclei|acunetix|netsparker|invicti|w3af|wpscan|dirbuster|gobuster|feroxbuster|ffuf|wfuzz|havij|jaeles|arachni|openvas|nessus|\bzap\/|owasp[ _-]?zap|appscan|skipfish|whatweb|commix|xsstrike|dalfox|hydra|medusa|burpsuite|burp collaborator|qualys|detectify|paros|webinspect|vega\/|grabber|sqlninja|bbqsql|jsql|struts-pwn|fimap|dotdotpwn|httprint|morfeus|zmeu|censysinspect|l9explore|l9tcpid|xspider|pangolin/i;

/** A user agent that names an attack tool (sqlmap, nikto, …). */
export function detectScanner(userAgent: string): Finding | undefined {
  return SCANNERS.test(userAgent) ? { type: 'scanner', severity: 'high', rule: 'scanner.user_agent' } : undefined;
}

const PROBE_PATHS =
  /(?:^|\/)(?:\.env(?:\.\w+)?|\.git(?:\/|$)|\.svn\/|\.hg\/|\.ds_store|\.aws\/|\.ssh\/|\.htaccess|\.htpasswd|wp-(?:admin|login|content|includes|config)|xmlrpc\.php|phpmyadmin|pma\/|adminer|server-status|server-info|actuator(?:\/|$)|cgi-bin\/|boaform|HNAP1|manager\/html|console\/|jmx-console|solr\/admin|telescope\/|_ignition|vendor\/phpunit|config\.(?:json|yml|yaml|php|bak)|backup\.(?:sql|zip|tar)|dump\.sql|database\.sql|web\.config|id_rsa|etc\/passwd)|\.(?:php\d?|asp|aspx|jsp|cgi|pl|bak|old|swp|sql)(?:$|\?)/i;

/** A request for a file or console that only scanners look for (checked on paths no route matched). */
export function detectProbe(path: string): Finding | undefined {
  return PROBE_PATHS.test(path) ? { type: 'scanner', severity: 'medium', rule: 'scanner.probe_path' } : undefined;
}
