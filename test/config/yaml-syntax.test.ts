import { it } from 'node:test';
import { expectProblem } from './validate.js';

it('YAML syntax errors are positioned', async () => {
  await expectProblem('uplinks:\n  - name: fiber\n    interface: [wan1\n', 4, 1, 'YAML_SYNTAX');
});

it('a duplicate key is a YAML error at the second key', async () => {
  await expectProblem('probe:\n  down: 3\n  down: 4\n', 3, 3, 'YAML_SYNTAX', /unique/i);
});
