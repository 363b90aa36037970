import type { Finding } from './types.js';

/**
 * SQL injection by tokenising, the way libinjection does: the value is read as SQL three
 * times — as it stands, as if it sat inside '…' and inside "…" (where an attacker's quote
 * closes our string) — and the token sequences, not the words, decide. "Select a date" is a
 * keyword and barewords; "' or 1=1--" is a closed string, a logic operator, a comparison
 * and a comment.
 */

type Kind =
  | 's' // string
  | 'n' // number
  | 'k' // keyword
  | 'E' // statement keyword (select, drop, …)
  | 'U' // union
  | '&' // logic operator
  | 'o' // operator
  | 'f' // function call
  | 'v' // variable (@x, @@version)
  | 'b' // bareword
  | 'c' // comment
  | '(' // open
  | ')' // close
  | ',' // comma
  | ';'; // statement end

interface Token {
  kind: Kind;
  text: string; // lower-cased word, operator or string content
  open?: boolean; // an unterminated string
}

const STATEMENTS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'drop',
  'exec',
  'execute',
  'declare',
  'shutdown',
  'create',
  'alter',
  'truncate',
  'copy',
  'waitfor',
  'grant',
  'revoke',
  'call',
  'merge',
  'replace',
  'rename',
  'load',
  'handler',
  'values',
]);
const KEYWORDS = new Set([
  'from',
  'where',
  'into',
  'set',
  'table',
  'database',
  'schema',
  'like',
  'rlike',
  'regexp',
  'between',
  'in',
  'is',
  'null',
  'true',
  'false',
  'order',
  'group',
  'by',
  'having',
  'limit',
  'offset',
  'case',
  'when',
  'then',
  'else',
  'end',
  'as',
  'all',
  'distinct',
  'delay',
  'procedure',
  'outfile',
  'dumpfile',
  'program',
  'to',
  'top',
  'begin',
  'div',
  'mod',
  'sounds',
  'escape',
  'collate',
  'returning',
  'exists',
  'any',
  'some',
]);
const LOGIC = new Set(['and', 'or', 'xor', 'not', '&&', '||']);

// Functions that have no business in a form field: time delays, file and command access, and
// the error-based exfiltration favourites.
const STRONG_FUNCTIONS = new Set([
  'sleep',
  'pg_sleep',
  'benchmark',
  'dbms_lock.sleep',
  'dbms_pipe.receive_message',
  'extractvalue',
  'updatexml',
  'load_file',
  'xp_cmdshell',
  'xp_dirtree',
  'xp_regread',
  'sp_executesql',
  'sp_oacreate',
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_dir',
  'lo_import',
  'lo_export',
  'sys_eval',
  'sys_exec',
  'utl_inaddr.get_host_address',
  'utl_http.request',
  'dbms_xmlgen.getxml',
  'ctxsys.drithsx.sn',
  'dbms_utility.sqlid_to_sqlhash',
  'xmltype',
  'gtid_subset',
  'json_keys',
  'randomblob',
  'current_setting',
  'pg_database_size',
  'make_set',
  'elt',
  'geometrycollection',
  'multipoint',
  'polygon',
  'linestring',
  'multilinestring',
  'multipolygon',
  'exp',
  'floor',
  'rand',
  'regexp_substring',
  'query_to_xml',
  'database_to_xml',
  'user_lock.sleep',
  'crypt_key',
  'regexp_substring',
  'dbms_utility.get_hash_value',
  'pg_read_file',
]);
const SQL_FUNCTIONS = new Set([
  ...STRONG_FUNCTIONS,
  'char',
  'chr',
  'nchar',
  'concat',
  'concat_ws',
  'group_concat',
  'string_agg',
  'substring',
  'substr',
  'mid',
  'ascii',
  'ord',
  'hex',
  'unhex',
  'length',
  'len',
  'if',
  'iif',
  'ifnull',
  'isnull',
  'nvl',
  'coalesce',
  'cast',
  'convert',
  'version',
  'database',
  'user',
  'schema',
  'md5',
  'count',
  'now',
  'current_user',
  'session_user',
  'system_user',
  'db_name',
  'is_srvrolemember',
  'instr',
  'position',
  'strcmp',
  'char_length',
  'lower',
  'upper',
  'replace',
  'reverse',
  'left',
  'right',
  'bin',
  'conv',
  'greatest',
  'least',
  'row',
  'to_char',
  'decode',
  'encode',
  'nullif',
  'generate_series',
  'select',
  'exists',
]);
const SYSTEM_OBJECTS = new Set([
  'information_schema',
  'information_schema.tables',
  'information_schema.columns',
  'information_schema.schemata',
  'pg_catalog',
  'pg_shadow',
  'pg_user',
  'pg_tables',
  'pg_namespace',
  'pg_database',
  'mysql.user',
  'mysql.db',
  'sysobjects',
  'syscolumns',
  'sys.tables',
  'sys.objects',
  'sys.databases',
  'master..sysdatabases',
  'master.dbo.sysdatabases',
  'all_tables',
  'all_users',
  'user_tables',
  'sqlite_master',
  'sqlite_schema',
  'msysobjects',
  'v$version',
  'rdb$database',
  'sysibm.sysdummy1',
]);

const WORD_RE = /[\p{L}\p{N}_$.]/u;
const WORD_START_RE = /[\p{L}_]/u;
// ASCII first: a Unicode property test per character is what a long value would cost.
const WORD = {
  test: (c: string) =>
    (c >= 'a' && c <= 'z') ||
    (c >= 'A' && c <= 'Z') ||
    (c >= '0' && c <= '9') ||
    c === '_' ||
    c === '$' ||
    c === '.' ||
    (c > '\x7f' && WORD_RE.test(c)),
};
const WORD_START = {
  test: (c: string) =>
    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || (c > '\x7f' && WORD_START_RE.test(c)),
};

const SIGNIFICANT = new Set('\'"`-#/*$.@=<>+%|&^~!:(),;');
const TWO_CHAR_OPERATORS = new Set(['::', '<>', '!=', '>=', '<=', '<<', '>>', ':=']);

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  const n = input.length;
  let i = 0;
  while (i < n && tokens.length < 64) {
    const ch = input[i] as string;
    const next = input[i + 1];
    if (ch <= ' ' || ch === '\u00a0' || !(SIGNIFICANT.has(ch) || WORD_START.test(ch) || (ch >= '0' && ch <= '9'))) {
      // Whitespace, and symbols that mean nothing to SQL ({ } [ ] ? …), separate words.
      i++;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      let text = '';
      let closed = false;
      while (j < n) {
        const c = input[j] as string;
        if (c === '\\' && j + 1 < n) {
          text += input[j + 1];
          j += 2;
          continue;
        }
        if (c === ch) {
          if (input[j + 1] === ch) {
            text += ch;
            j += 2;
            continue;
          }
          closed = true;
          j++;
          break;
        }
        text += c;
        j++;
      }
      tokens.push({ kind: 's', text: text.toLowerCase(), open: !closed });
      i = j;
      continue;
    }
    if (ch === '`') {
      // A quoted identifier; an unmatched backtick closed an identifier of ours: read on.
      const end = input.indexOf('`', i + 1);
      if (end < 0) {
        i++;
        continue;
      }
      tokens.push({ kind: 'b', text: input.slice(i + 1, end).toLowerCase() });
      i = end + 1;
      continue;
    }
    if ((ch === '-' && next === '-') || ch === '#') {
      const end = input.indexOf('\n', i);
      tokens.push({ kind: 'c', text: '--' });
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (ch === '/' && next === '*') {
      if (input[i + 2] === '!') {
        // MySQL runs what is inside /*!…*/: read it as code.
        i += 3;
        while (i < n && /\d/.test(input[i] as string)) i++;
        continue;
      }
      const end = input.indexOf('*/', i + 2);
      tokens.push({ kind: 'c', text: '/*' });
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (ch === '*' && next === '/') {
      i += 2;
      continue;
    }
    if (ch === '$') {
      // PostgreSQL dollar quoting: $$…$$ or $tag$…$tag$.
      const tag = /^\$[A-Za-z_]*\$/.exec(input.slice(i, i + 32))?.[0];
      if (tag) {
        const end = input.indexOf(tag, i + tag.length);
        tokens.push({ kind: 's', text: input.slice(i + tag.length, end < 0 ? n : end).toLowerCase(), open: end < 0 });
        i = end < 0 ? n : end + tag.length;
        continue;
      }
    }
    if (/[0-9]/.test(ch) || (ch === '.' && next !== undefined && /[0-9]/.test(next))) {
      const match = /^(0x[0-9a-f]*|0b[01]+|\d*\.?\d+(e[+-]?\d+)?)/i.exec(input.slice(i, i + 64));
      const text = match?.[0] ?? ch;
      // A number glued to letters ("5th", "16s") is a word, not SQL.
      const after = input[i + text.length];
      if (after !== undefined && WORD_START.test(after)) {
        let j = i + text.length;
        while (j < n && WORD.test(input[j] as string)) j++;
        tokens.push({ kind: 'b', text: input.slice(i, j).toLowerCase() });
        i = j;
        continue;
      }
      tokens.push({ kind: 'n', text });
      i += text.length;
      continue;
    }
    if (ch === '@') {
      let j = i + 1;
      if (input[j] === '@') j++;
      while (j < n && WORD.test(input[j] as string)) j++;
      tokens.push({ kind: 'v', text: input.slice(i, j).toLowerCase() });
      i = Math.max(j, i + 1);
      continue;
    }
    if (WORD_START.test(ch)) {
      let j = i + 1;
      while (j < n && WORD.test(input[j] as string)) j++;
      const word = input.slice(i, j).toLowerCase();
      // E'…', N'…', X'…': a string with a prefix, not a word and a string.
      if (j - i <= 2 && input[j] === "'" && /^(e|n|x|b|u&?)$/.test(word)) {
        i = j;
        continue;
      }
      let k = j;
      while (k < n && (input[k] as string) <= ' ') k++;
      // Comments between a name and its parenthesis (SLEEP/**/(5)) still make a call.
      while (input.startsWith('/*', k)) {
        const end = input.indexOf('*/', k + 2);
        k = end < 0 ? n : end + 2;
        while (k < n && (input[k] as string) <= ' ') k++;
      }
      const call = input[k] === '(';
      let kind: Kind;
      if (LOGIC.has(word)) kind = '&';
      else if (word === 'union' || word === 'intersect' || word === 'except') kind = 'U';
      else if (call && SQL_FUNCTIONS.has(word)) kind = word === 'select' ? 'E' : 'f';
      else if (STATEMENTS.has(word)) kind = 'E';
      else if (KEYWORDS.has(word)) kind = 'k';
      else if (call) kind = 'f';
      else kind = 'b';
      tokens.push({ kind, text: word });
      i = j;
      continue;
    }
    const three = input.slice(i, i + 3);
    const two = input.slice(i, i + 2);
    if (three === '<=>') {
      tokens.push({ kind: 'o', text: three });
      i += 3;
      continue;
    }
    if (two === '&&' || two === '||') {
      tokens.push({ kind: '&', text: two });
      i += 2;
      continue;
    }
    if (TWO_CHAR_OPERATORS.has(two)) {
      tokens.push({ kind: 'o', text: two });
      i += 2;
      continue;
    }
    if ('=<>+-*/%|&^~!'.includes(ch)) {
      tokens.push({ kind: 'o', text: ch });
      i++;
      continue;
    }
    if (ch === '(' || ch === ')' || ch === ',' || ch === ';') {
      tokens.push({ kind: ch, text: ch });
      i++;
      continue;
    }
    // Anything else (punctuation, symbols) separates words and means nothing to SQL.
    i++;
  }
  return tokens;
}

const COMPARISON = new Set([
  '=',
  '<>',
  '!=',
  '<',
  '>',
  '<=',
  '>=',
  '<=>',
  'like',
  'rlike',
  'regexp',
  'in',
  'is',
  'between',
]);
// Comparisons that prose with numbers also makes ("5 >= 5"): they count only with other SQL around.
const ORDERING = new Set(['<', '>', '<=', '>=']);
const isLiteral = (t: Token | undefined) => t !== undefined && (t.kind === 'n' || t.kind === 's');
const isOperand = (t: Token | undefined) =>
  t !== undefined && (t.kind === 's' || t.kind === 'n' || t.kind === 'f' || t.kind === 'v' || t.kind === '(');
const isComparison = (t: Token | undefined) =>
  t !== undefined && (t.kind === 'o' || t.kind === 'k') && COMPARISON.has(t.text);

function ruleOf(tokens: Token[], quoted: boolean): Finding | undefined {
  const code = tokens.filter((t) => t.kind !== 'c');
  const hasComment = tokens.length !== code.length;
  const at = (i: number) => code[i];
  let lead = 0;
  while (code[lead]?.kind === 'o' && (code[lead]?.text === '-' || code[lead]?.text === '+')) lead++;
  const startsWithNumber = code[lead]?.kind === 'n';

  for (let i = 0; i < code.length; i++) {
    const t = code[i] as Token;
    if (t.kind === 'U') {
      let j = i + 1;
      while (at(j)?.kind === '(' || at(j)?.text === 'all' || at(j)?.text === 'distinct') j++;
      if (at(j)?.kind === 'E' && at(j)?.text === 'select')
        return { type: 'sql_injection', severity: 'critical', rule: 'sqli.union_select' };
    }
    if (t.kind === ';') {
      const s = at(i + 1);
      const s2 = at(i + 2);
      if (s?.kind === 'E') {
        const follows =
          s.text === 'select' ||
          s.text === 'shutdown' ||
          s.text === 'declare' ||
          s.text === 'exec' ||
          s.text === 'execute' ||
          s.text === 'copy' ||
          (s.text === 'waitfor' && s2?.text === 'delay') ||
          (s.text === 'drop' && s2 !== undefined) ||
          (s.text === 'delete' && s2?.text === 'from') ||
          (s.text === 'insert' && s2?.text === 'into') ||
          (s.text === 'update' && at(i + 3)?.text === 'set') ||
          ((s.text === 'create' || s.text === 'alter' || s.text === 'truncate') && s2 !== undefined);
        if (follows) return { type: 'sql_injection', severity: 'critical', rule: 'sqli.stacked_query' };
      }
    }
    if (t.kind === 'f' && STRONG_FUNCTIONS.has(t.text)) {
      // exp/floor/rand and friends are ordinary maths unless SQL surrounds them.
      const weak = t.text === 'exp' || t.text === 'floor' || t.text === 'rand' || t.text === 'elt';
      const before = at(i - 1);
      const sqlAround = before?.kind === '&' || before?.kind === 'o' || before?.kind === '(' || before?.kind === ',';
      if (!weak || (sqlAround && quoted) || (sqlAround && code.some((x) => x.kind === 'E')))
        return { type: 'sql_injection', severity: 'critical', rule: 'sqli.dangerous_function' };
    }
    if (t.text === 'waitfor' && (at(i + 1)?.text === 'delay' || at(i + 1)?.text === 'time'))
      return { type: 'sql_injection', severity: 'critical', rule: 'sqli.dangerous_function' };
    if ((t.kind === 'b' || t.kind === 'f' || t.kind === 'v') && (SYSTEM_OBJECTS.has(t.text) || t.text.startsWith('@@')))
      return { type: 'sql_injection', severity: 'high', rule: 'sqli.system_object' };
    if (t.kind === 'E' && t.text === 'select') {
      const next = at(i + 1);
      const before = at(i - 1);
      const subquery =
        before === undefined ||
        before.kind === '(' ||
        before.kind === '&' ||
        before.kind === 'o' ||
        before.kind === ',';
      const operand = isOperand(next) || next?.text === '*' || next?.kind === 'E' || next?.text === 'case';
      const from = code.slice(i + 1, i + 12).some((x) => x.text === 'from');
      if (operand && (subquery || from)) return { type: 'sql_injection', severity: 'high', rule: 'sqli.subquery' };
    }
    if (t.kind === '&' && t.text !== 'not') {
      // x OR 1=1, AND 'a'='a', AND 4821=4821, OR NOT 2>1
      let j = i + 1;
      while (at(j)?.text === 'not' || at(j)?.text === '!') j++;
      const a = at(j);
      const op = at(j + 1);
      const b = at(j + 2);
      if (isLiteral(a) && isComparison(op) && isLiteral(b) && (!ORDERING.has(op?.text ?? '') || quoted || hasComment))
        return { type: 'sql_injection', severity: 'high', rule: 'sqli.tautology' };
      // AND 1=CAST(version() AS int), AND 1=(SELECT current_user)::int: a comparison with a query.
      const computed = (b?.kind === 'f' && SQL_FUNCTIONS.has(b.text)) || (b?.kind === '(' && at(j + 3)?.kind === 'E');
      if (isLiteral(a) && op?.text === '=' && computed && (quoted || startsWithNumber || hasComment))
        return { type: 'sql_injection', severity: 'high', rule: 'sqli.tautology' };
      if (a?.kind === 'f' && SQL_FUNCTIONS.has(a.text) && (quoted || startsWithNumber))
        return { type: 'sql_injection', severity: 'high', rule: 'sqli.boolean_function' };
      if (
        a?.kind === '(' &&
        code.slice(j + 1, j + 8).some((x) => x.kind === 'E' || isComparison(x)) &&
        (quoted || hasComment || startsWithNumber)
      )
        return { type: 'sql_injection', severity: 'high', rule: 'sqli.boolean_expression' };
    }
    if (t.kind === 'k' && (t.text === 'where' || t.text === 'having' || t.text === 'when')) {
      // WHERE 7890=7890, HAVING 1=1: a condition on two literals is a probe, never a question.
      let j = i + 1;
      while (at(j)?.text === 'not' || at(j)?.kind === '(') j++;
      if (isLiteral(at(j)) && isComparison(at(j + 1)) && isLiteral(at(j + 2)))
        return { type: 'sql_injection', severity: 'high', rule: 'sqli.tautology' };
    }
    if (t.kind === '(' && isLiteral(at(i + 1)) && isComparison(at(i + 2)) && isLiteral(at(i + 3))) {
      // (5283=5283)*7359, ELT(5454=5454,3728), IIF(4787=4787,…)
      const after = at(i + 4);
      const op = at(i + 2)?.text ?? '';
      if ((after?.kind === ')' || after?.kind === ',') && (!ORDERING.has(op) || quoted || hasComment))
        return { type: 'sql_injection', severity: 'high', rule: 'sqli.boolean_expression' };
    }
    if (t.text === 'order' || t.text === 'group') {
      // ') ORDER BY 27--: counting a query's columns.
      const by = at(i + 1);
      const number = at(i + 2);
      const before = at(i - 1);
      if (by?.text === 'by' && number?.kind === 'n' && (hasComment || before?.kind === ')' || quoted) && i > 0)
        return { type: 'sql_injection', severity: 'high', rule: 'sqli.order_by_probe' };
    }
    if (
      t.kind === 'f' &&
      (t.text === 'version' ||
        t.text === 'current_user' ||
        t.text === 'database' ||
        t.text === 'current_database' ||
        t.text === 'user') &&
      at(i + 1)?.kind === '(' &&
      at(i + 2)?.kind === ')' &&
      code.some((x) => x.kind === 'o' || x.kind === '&' || x.text === 'cast' || x.text === 'select')
    )
      return { type: 'sql_injection', severity: 'high', rule: 'sqli.fingerprint_function' };
    if (
      t.kind === ';' &&
      at(i + 1)?.text === 'set' &&
      /^(role|session|@|global|search_path)/.test(at(i + 2)?.text ?? '')
    )
      return { type: 'sql_injection', severity: 'critical', rule: 'sqli.stacked_query' };
    if (
      t.kind === 'b' &&
      (t.text.startsWith('rdb$') || t.text.startsWith('mysql.') || t.text.startsWith('pg_catalog.'))
    )
      return { type: 'sql_injection', severity: 'high', rule: 'sqli.system_object' };
    if (t.text === 'case' && at(i + 1)?.text === 'when' && code.slice(i + 2).some((x) => x.text === 'then'))
      return { type: 'sql_injection', severity: 'high', rule: 'sqli.case_when' };
  }

  const first = code[0];
  const second = code[1];
  const third = code[2];
  if (quoted && first?.kind === 's' && !first.open) {
    // Our string was closed by the value's own quote: what follows is SQL.
    if (second === undefined) return tokens[1]?.kind === 'c' ? breakout('sqli.comment_truncation') : undefined;
    if (tokens[1]?.kind === 'c') return breakout('sqli.comment_truncation');
    if (second.kind === ';') return breakout('sqli.string_break');
    if (second.kind === '&' && third?.kind === 'o' && '!~-+'.includes(third.text) && code[3]?.kind === 'n')
      return breakout('sqli.string_break');
    if (second.kind === '&' && (isOperand(third) || third?.kind === 'k' || third?.kind === '&')) {
      if (third?.kind !== 'b' || code.slice(3).some(isComparison) || hasComment) return breakout('sqli.string_break');
    }
    if (second.kind === '&' && third?.kind === 'b' && (code.slice(3).some(isComparison) || hasComment))
      return breakout('sqli.string_break');
    if (second.kind === 'o' && second.text !== '-' && (isOperand(third) || third?.kind === '&'))
      return breakout('sqli.string_break');
    if (second.kind === ')' && (third === undefined || third.kind === '&' || third.kind === ';' || third.kind === ')'))
      return code.length > 2 || hasComment ? breakout('sqli.string_break') : undefined;
    if ((second.text === 'order' || second.text === 'group') && third?.text === 'by' && code[3]?.kind === 'n')
      return breakout('sqli.string_break');
    if ((second.text === 'having' || second.text === 'limit') && (code[2]?.kind === 'n' || isComparison(code[3])))
      return breakout('sqli.string_break');
    if (
      second.text === 'procedure' ||
      (second.text === 'into' && (third?.text === 'outfile' || third?.text === 'dumpfile'))
    )
      return breakout('sqli.string_break');
  }
  if (!quoted && startsWithNumber && second) {
    // 1 AND …, 1) OR (…, 1;…
    if (second.kind === ')' && (third?.kind === '&' || third?.kind === ';' || third?.kind === 'U'))
      return breakout('sqli.number_break');
    if (second.kind === '&' && hasComment && isOperand(third)) return breakout('sqli.number_break');
  }
  return undefined;
}

const breakout = (rule: string): Finding => ({ type: 'sql_injection', severity: 'high', rule });

/** The first SQL-injection rule the value meets, read as bare SQL and inside each quote style. */
export function detectSql(input: string): Finding | undefined {
  // A query string's "+" is a space: 1+AND+1=1 reads as 1 AND 1=1.
  const text = input.includes('+') && !input.includes(' ') ? input.replace(/\+/g, ' ') : input;
  if (text.includes('/*') && /\w\/\*[^*]*\*\/\w/.test(text)) {
    // UN/**/ION: a comment inside a keyword, for filters that strip comments.
    const joined = text
      .replace(/\/\*[^*]*\*\//g, '')
      .replace(/(union)(all|select|distinct)/gi, '$1 $2')
      .replace(/(select)(\d|\*|null|@)/gi, '$1 $2');
    const found = joined !== text ? detectSql(joined) : undefined;
    if (found) return found;
  }
  if (text.includes("\\'")) {
    // \' where a filter escapes quotes by doubling the backslash away.
    const found = detectSql(text.replaceAll("\\'", "'"));
    if (found) return found;
  }
  const bare = ruleOf(tokenize(text), false);
  if (bare) return bare;
  if (text.includes("'")) {
    const single = ruleOf(tokenize(`'${text}`), true);
    if (single) return single;
  }
  if (text.includes('"')) {
    const double = ruleOf(tokenize(`"${text}`), true);
    if (double) return double;
  }
  // Inside a quoted identifier (ORDER BY `name`): the value's backtick closes it.
  if (text.includes('`')) return ruleOf(tokenize(`\`${text}`), true);
  return undefined;
}
