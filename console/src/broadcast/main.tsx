import { render } from 'preact';
import '../ui/styles.css';
import { Broadcast } from './Broadcast.tsx';

render(<Broadcast />, document.getElementById('app')!);
